/**
 * `websession/node`: sessions for plain `node:http` handlers, without building a `Request`
 * per request. The session handle is lazy: a request whose handler never uses it costs no
 * crypto and no store call.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { withSession } from 'websession/node';
 * createServer(withSession(async (req, res, session) => {
 *   const views = ((await session.get('views')) ?? 0) + 1;
 *   await session.set('views', views);
 *   res.end(`views: ${views}`);
 * }, { secret: process.env.SESSION_SECRET! })).listen(3000);
 * ```
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createMemoryStore, createSessionEngine, type Session, type SessionData, type SessionEngine, type SessionOptions, type Store } from '../src/index.ts';
import { hookResponse } from './node-response.ts';
import { nodeHmac } from './node-hmac.ts';

export { nodeHmac };

/** Core options with `store` optional (a memory store by default); `hmac` defaults to {@link nodeHmac}. */
export type NodeSessionOptions = Omit<SessionOptions, 'store'> & {
  /** Where sessions are kept. @default createMemoryStore() */
  store?: Store | undefined;
  /** Status sent when the store fails before the response started. @default 503 */
  storeErrorStatus?: number | undefined;
};

/** A `node:http` handler that also receives the request's session. */
export type SessionHandler<Data extends SessionData> = (req: IncomingMessage, res: ServerResponse, session: Session<Data>) => void | Promise<void>;

/** A `node:http` request listener. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** The listener returned by {@link withSession}, with its engine for listing and revoking sessions. */
export interface NodeSessionListener extends RequestListener {
  /** The engine behind the listener. */
  readonly engine: SessionEngine;
}

function sendError(res: ServerResponse, status: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(status === 503 ? 'Service Unavailable' : 'Internal Server Error');
}

/** Wraps a `(req, res, session)` handler into a `node:http` request listener. */
export function withSession<Data extends SessionData = SessionData>(handler: SessionHandler<Data>, options: NodeSessionOptions): NodeSessionListener {
  const { storeErrorStatus = 503, ...rest } = options;
  const engine = createSessionEngine<Data>({ ...rest, store: rest.store ?? createMemoryStore(), hmac: rest.hmac ?? nodeHmac });
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    // The facts are read on first use: a request that never touches its session costs no
    // parsing. The response is hooked up front (hooking on first use would miss a
    // `res.end(await session.get(...))`, which reads res.end before the session loads).
    const session: Session<Data> = engine.load(() => {
      const forwarded = req.headers['x-forwarded-proto'];
      return {
        cookie: req.headers.cookie,
        secure: (req.socket as { encrypted?: boolean } | null)?.encrypted === true,
        forwardedProto: Array.isArray(forwarded) ? forwarded[0] : forwarded,
        context: req,
      };
    });
    hookResponse(res, {
      headers: () => engine.cookieHeaders(session),
      persist: () => engine.persist(session),
      finish: () => engine.commit(session),
      finishNow: () => engine.commitNow(session),
      idle: () => !engine.hasWork(session),
      sent: () => engine.headersSent(session),
      fail(error) {
        engine.options.onEvent?.({ type: 'error', error });
        sendError(res, storeErrorStatus);
      },
    });
    let result: void | Promise<void>;
    try {
      result = handler(req, res, session);
    } catch (error) {
      engine.options.onEvent?.({ type: 'error', error });
      sendError(res, (error as { code?: unknown }).code === 'ERR_STORE' ? storeErrorStatus : 500);
      return;
    }
    if (result && typeof result.then === 'function') {
      result.then(undefined, (error: unknown) => {
        engine.options.onEvent?.({ type: 'error', error });
        sendError(res, (error as { code?: unknown }).code === 'ERR_STORE' ? storeErrorStatus : 500);
      });
    }
  };
  return Object.assign(listener, { engine: engine as unknown as SessionEngine });
}

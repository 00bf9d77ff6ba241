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
import { createMemoryStore, createSessionEngine, type CommitResult, type RequestFacts, type Session, type SessionData, type SessionEngine, type SessionOptions, type Store } from '../src/index.ts';
import { hookResponse, type ResponseHooks } from './node-response.ts';
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

/** A `node:http` request's facts for the engine, read on first use by getters (a class, not a closure per request). */
class NodeFacts implements RequestFacts {
  constructor(readonly context: IncomingMessage) {}

  get cookie(): string | undefined {
    return this.context.headers.cookie;
  }

  get secure(): boolean {
    return (this.context.socket as { encrypted?: boolean } | null)?.encrypted === true;
  }

  get forwardedProto(): string | undefined {
    const forwarded = this.context.headers['x-forwarded-proto'];
    return Array.isArray(forwarded) ? forwarded[0] : forwarded;
  }
}

/**
 * One response's commit hooks: a class rather than an object of closures made per request,
 * because those closures kept each response alive through two young-generation collections
 * (promoted, 380 KB per scavenge under `--predictable-gc-schedule`; bench/README.md, session 14).
 */
class NodeHooks<Data extends SessionData> implements ResponseHooks {
  constructor(
    readonly engine: SessionEngine<Data>,
    readonly session: Session<Data>,
    readonly res: ServerResponse,
    readonly storeErrorStatus: number,
  ) {}

  headers(): Promise<CommitResult> {
    return this.engine.cookieHeaders(this.session);
  }

  persist(): Promise<void> {
    return this.engine.persist(this.session);
  }

  finish(): Promise<CommitResult> {
    return this.engine.commit(this.session);
  }

  finishNow(): CommitResult | Promise<CommitResult> {
    return this.engine.commitNowOrLater(this.session);
  }

  idle(): boolean {
    return !this.engine.hasWork(this.session);
  }

  sent(): void {
    this.engine.headersSent(this.session);
  }

  /** The handler or the commit failed: reported, and answered with the store status for a store error, else 500. */
  fail(error: unknown): void {
    this.engine.options.onEvent?.({ type: 'error', error });
    sendError(this.res, (error as { code?: unknown }).code === 'ERR_STORE' ? this.storeErrorStatus : 500);
  }
}

/** Wraps a `(req, res, session)` handler into a `node:http` request listener. */
export function withSession<Data extends SessionData = SessionData>(handler: SessionHandler<Data>, options: NodeSessionOptions): NodeSessionListener {
  const { storeErrorStatus = 503, ...rest } = options;
  const engine = createSessionEngine<Data>({ ...rest, store: rest.store ?? createMemoryStore(), hmac: rest.hmac ?? nodeHmac });
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    // The facts are read on first use (getters): a request that never touches its session
    // costs no parsing. The response is hooked up front (hooking on first use would miss a
    // `res.end(await session.get(...))`, which reads res.end before the session loads).
    const session: Session<Data> = engine.load(new NodeFacts(req));
    // On the instance: a node:http response's prototype is a class's, which is never wrapped.
    const hooks = new NodeHooks(engine, session, res, storeErrorStatus);
    hookResponse(res, hooks, false, true);
    let result: void | Promise<void>;
    try {
      result = handler(req, res, session);
    } catch (error) {
      hooks.fail(error);
      return;
    }
    if (result && typeof result.then === 'function') result.then(undefined, (error: unknown) => hooks.fail(error));
  };
  return Object.assign(listener, { engine: engine as unknown as SessionEngine });
}

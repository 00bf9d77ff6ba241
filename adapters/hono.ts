/**
 * websession/hono: server-side sessions as Hono middleware. The session is a lazy handle:
 * a route that never touches it costs no crypto and no store call.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { session, type SessionVariables } from 'websession/hono';
 *
 * type Data = { userId: string; views: number };
 * const app = new Hono<{ Variables: SessionVariables<Data> }>();
 * app.use(session<Data>({ secret: process.env.SESSION_SECRET! }));
 * app.get('/', async (c) => {
 *   const s = c.get('session');
 *   const views = ((await s.get('views')) ?? 0) + 1;
 *   await s.set('views', views);
 *   return c.text(`views: ${views}`);
 * });
 * ```
 * @module
 */
import type { MiddlewareHandler } from 'hono';
import { SessionError, applyToResponse, type Session, type SessionData, type SessionEngine, type SessionOptions, type Store } from '../src/index.ts';
import { engineResolver } from './engine-for.ts';

/** The context variables the middleware sets; read the session with `c.get('session')`. */
export type SessionVariables<Data extends SessionData = SessionData> = {
  session: Session<Data>;
};

/** The middleware {@link session} returns, with `engineFor(env)` for listing and revoking sessions. */
export type SessionMiddleware<Data extends SessionData = SessionData, Bindings = unknown> = MiddlewareHandler<{ Variables: SessionVariables<Data> }> & {
  /** The engine serving requests with this `env` (`c.env`); the same one for every env when options are an object. */
  engineFor(env?: Bindings): SessionEngine<Data>;
};

/** Options of {@link session}: the core `SessionOptions`, with `store` optional. */
export interface HonoSessionOptions extends Omit<SessionOptions, 'store'> {
  /** Where sessions are kept. @default a memory store (`createMemoryStore()`), one per middleware */
  store?: Store | undefined;
}

/**
 * Creates the session middleware; it sets `c.get('session')` and, after the handler, saves the
 * session and appends its Set-Cookie.
 *
 * `options` is either `HonoSessionOptions` (the engine is built now, so bad options throw
 * `SessionError('ERR_CONFIG')` here) or a function of `c.env`, for Workers, whose secret and KV
 * binding live in the bindings: the engine is then built on first use and cached per `env`
 * object. On Node, whose `c.env` is a new object per request, pass plain options.
 *
 * Defaults are the core's: cookie `sid`, `HttpOnly`, `SameSite=Lax`, `Secure` when the request is
 * https (`proxy: true` trusts `X-Forwarded-Proto`), 30 min idle and 12 h absolute timeouts.
 * A store failure while loading or saving is thrown as `SessionError('ERR_STORE')` to Hono's
 * `onError` (data changed in place into something JSON cannot hold: `ERR_VALUE`); no Set-Cookie
 * is sent for a session that was not saved. The session is saved before the response is
 * returned, so changes made inside a streaming callback after that are not saved. As with
 * express-session, a session changed by a handler that then threw is still saved when `onError`
 * answers.
 */
export function session<Data extends SessionData = SessionData, Bindings = unknown>(
  options: HonoSessionOptions | ((env: Bindings) => HonoSessionOptions),
): SessionMiddleware<Data, Bindings> {
  const engineFor = engineResolver<Data, Bindings>(options);
  const middleware: MiddlewareHandler<{ Variables: SessionVariables<Data> }> = async function session(c, next) {
    const engine = engineFor(c.env as Bindings);
    const current = engine.load(c.req.raw);
    c.set('session', current);
    await next();
    const res = c.res;
    // A handler that never used the session costs no crypto and no store call here. At once when
    // the store and signer allow it (an unused session; the memory store): no promise and no
    // await (−4,400 instructions per Hono S2 request, bench/README.md, session 14). Otherwise
    // a promise of the same commit, from the same look at the session.
    const now = engine.commitNowOrLater(current);
    const committed = applyToResponse(now instanceof Promise ? await now : now, res);
    if (committed !== res) {
      // The core copied a response whose headers are immutable (Response.redirect, fetch()).
      // Hono's `c.res` setter merges the old response's headers into the new one and replaces
      // its Set-Cookie list with the old one's, which would drop ours; clearing first makes it
      // a plain swap.
      c.res = undefined;
      c.res = committed;
    }
  };
  return Object.assign(middleware, { engineFor: (env?: Bindings) => engineFor(env as Bindings) });
}

/**
 * The part of a Hono `Context` that {@link getSession} reads. Structural on purpose: Hono's
 * `Context<E>` is invariant in `E`, so a context with more variables than the session would not
 * be assignable to `Context<{ Variables: SessionVariables<Data> }>`.
 */
export interface HonoSessionContext<Data extends SessionData = SessionData> {
  /** The context variables; only `session` is read (its type gives `Data`). */
  readonly var: { readonly session: Session<Data> };
  /** Hono's `c.get`. */
  get(key: 'session'): unknown;
}

/** Returns the request's session; throws `SessionError('ERR_STATE')` when the middleware did not run. */
export function getSession<Data extends SessionData = SessionData>(c: HonoSessionContext<Data>): Session<Data> {
  const current = c.get('session') as Session<Data> | undefined;
  if (current === undefined) {
    throw new SessionError('ERR_STATE', 'websession/hono: no session on this context; add app.use(session({ ... })) before this route');
  }
  return current;
}

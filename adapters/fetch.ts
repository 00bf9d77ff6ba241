/**
 * websession/fetch: sessions for fetch handlers (Cloudflare Workers `export default { fetch }`,
 * `Deno.serve`, `Bun.serve`). The session is a lazy handle: a request whose handler never
 * touches it costs no crypto and no store call.
 *
 * @example
 * ```ts
 * import { withSession } from 'websession/fetch';
 *
 * interface Env { SESSION_SECRET: string }
 * export default {
 *   fetch: withSession<{ views: number }, Env>(
 *     async (request, session) => {
 *       const views = ((await session.get('views')) ?? 0) + 1;
 *       await session.set('views', views);
 *       return new Response(`views: ${views}`);
 *     },
 *     (env) => ({ secret: env.SESSION_SECRET }),
 *   ),
 * };
 * ```
 * @module
 */
import { applyToResponse, type Session, type SessionData, type SessionEngine, type SessionOptions, type Store } from '../src/index.ts';
import { engineResolver } from './engine-for.ts';

/** Options of {@link withSession}: the core `SessionOptions`, with `store` optional. */
export interface FetchSessionOptions extends Omit<SessionOptions, 'store'> {
  /** Where sessions are kept. @default a memory store (`createMemoryStore()`), one per `withSession` call */
  store?: Store | undefined;
}

/** A fetch handler that also receives the request's session; `env` and `ctx` are what the host passes. */
export type SessionFetchHandler<Data extends SessionData = SessionData, Env = unknown, Ctx = unknown> = (
  request: Request,
  session: Session<Data>,
  env: Env,
  ctx: Ctx,
) => Response | Promise<Response>;

/** The fetch handler {@link withSession} returns: `(request, env?, ctx?) => Promise<Response>`, with `engineFor(env)` for listing and revoking sessions. */
export interface FetchHandler<Env = unknown, Ctx = unknown> {
  (request: Request, env?: Env, ctx?: Ctx): Promise<Response>;
  /** The engine serving requests with this `env` (the same one for every env when options are an object). */
  engineFor(env?: Env): SessionEngine;
}

/**
 * Wraps a fetch handler: it gets `(request, session, env, ctx)`, and the session is saved and
 * its Set-Cookie appended to the returned Response (copied first if its headers are immutable,
 * as with `Response.redirect()` or a `fetch()`ed response).
 *
 * `options` is either `FetchSessionOptions` (the engine is built now, so bad options throw
 * `SessionError('ERR_CONFIG')` here) or a function of `env`, for Workers, whose secret and KV
 * binding live in `env`: the engine is then built on first use and cached per `env` object.
 * Pass plain options on Deno, whose second handler argument is a new object per request.
 * A store failure rejects with `SessionError('ERR_STORE')` (data changed in place into something JSON
 * cannot hold: `ERR_VALUE`), as does an error of the handler:
 * the host answers 500, and no Set-Cookie is sent for a session that was not saved.
 */
export function withSession<Data extends SessionData = SessionData, Env = unknown, Ctx = unknown>(
  handler: SessionFetchHandler<Data, Env, Ctx>,
  options: FetchSessionOptions | ((env: Env) => FetchSessionOptions),
): FetchHandler<Env, Ctx> {
  const engineFor = engineResolver<Data, Env>(options);
  const fetch = async function fetch(request: Request, env?: Env, ctx?: Ctx): Promise<Response> {
    const engine = engineFor(env as Env);
    const current = engine.load(request);
    const response = await handler(request, current, env as Env, ctx as Ctx);
    if (response === null || typeof response !== 'object' || typeof response.headers?.get !== 'function') {
      throw new TypeError('websession/fetch: the handler must return a Response');
    }
    // At once when the store and signer allow it (as in websession/hono): no extra await.
    const now = engine.commitNowOrLater(current);
    return applyToResponse(now instanceof Promise ? await now : now, response);
  };
  return Object.assign(fetch, { engineFor: (env?: Env) => engineFor(env as Env) as unknown as SessionEngine });
}

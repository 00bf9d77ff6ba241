/**
 * websession: server-side sessions for the Web platform. The cookie carries only a signed
 * session ID (express-session's wire format); the data lives in a store.
 *
 * @example
 * ```ts
 * import { createSessionEngine, createMemoryStore } from 'websession';
 * const engine = createSessionEngine({ secret: process.env.SESSION_SECRET!, store: createMemoryStore() });
 * export default {
 *   async fetch(request: Request): Promise<Response> {
 *     const session = engine.load(request);
 *     const views = ((await session.get('views')) as number | undefined ?? 0) + 1;
 *     await session.set('views', views);
 *     return engine.commit(session, new Response(`views: ${views}`));
 *   },
 * };
 * ```
 * @module
 */
export { createSessionEngine, applyToResponse, requestFacts } from './engine.ts';
export type { SessionEngine, CommitResult } from './engine.ts';
export { decideCookieAction, decideStoreAction } from './commit.ts';
export type { CommitState, CommitPolicy, StoreAction, CookieAction } from './commit.ts';
export { SessionError, storeError } from './errors.ts';
export type { SessionErrorCode } from './errors.ts';
export { CORE_DEFAULTS, resolveCookie } from './options.ts';
export type { SessionOptions, CookieOptions, ResolvedOptions, HmacSha256, Secret, SameSiteOption, FreshReason, SessionEvent } from './options.ts';
export type { Session, SessionData, RequestFacts, RegenerateOptions } from './session.ts';
export { SessionCookie } from './session-cookie.ts';
export { createSigner } from './signing.ts';
export type { Signer } from './signing.ts';
export { generateSessionId } from './id.ts';
export { createMemoryStore } from './stores/memory.ts';
export { fromConnectStore, isConnectStore } from './stores/connect.ts';
export type { ConnectStore, ConnectStoreBridge } from './stores/connect.ts';
export type { MemoryStore, MemoryStoreOptions } from './stores/memory.ts';
export type { Store, StoreCapabilities, SessionRecord, StoredCookie, RecordMeta, SetConditions, ListedSession } from './store.ts';

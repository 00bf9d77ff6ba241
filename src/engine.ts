/**
 * `createSessionEngine`: loads sessions from requests and commits them to the store and
 * to Set-Cookie. Works on strings inside; `Request`/`Response` helpers sit on top.
 * @module
 */
import { decideCookieAction, decideStoreAction, type CommitPolicy, type CommitState, type CookieAction } from './commit.ts';
import { serializeClearCookie, serializeCookie } from './cookie.ts';
import { SessionError, storeError } from './errors.ts';
import { resolveOptions, type ResolvedOptions, type SessionEvent, type SessionOptions } from './options.ts';
import { SessionHandle, type RequestFacts, type Session, type SessionContext, type SessionData } from './session.ts';
import { createSigner } from './signing.ts';
import { createCookieVerifier } from './cookie-verifier.ts';
import { isRecordExpired } from './expiry.ts';
import type { ListedSession } from './store.ts';

/** What a commit asks the host to send. */
export interface CommitResult {
  /** Set-Cookie values to append (never joined with commas). */
  setCookie: string[];
  /** Add `Vary: Cookie` (set whenever `setCookie` is not empty). */
  vary: boolean;
  /** Add `Cache-Control: private` unless the response already has a Cache-Control. */
  cacheControl: boolean;
}

/** A configured session engine. */
export interface SessionEngine<Data extends SessionData = SessionData> {
  /** The options after defaults and validation. */
  readonly options: ResolvedOptions;
  /** Returns the request's session handle; nothing is verified or read until it is used (facts may be given as a function, called on first use). */
  load(input: Request | RequestFacts | (() => RequestFacts)): Session<Data>;
  /**
   * Loads the session at once when that needs no await: no session cookie and built-in IDs, or a
   * cookie verified before (or by a synchronous `hmac`) naming a live record in a store that reads
   * synchronously (the memory store). Returns whether it is loaded.
   */
  loadNow(session: Session<Data>): boolean;
  /**
   * One data value of a loaded session, synchronously (`session.get()` without the promise); throws
   * `SessionError('ERR_STATE')` before load. Cheaper than reading through `session.data` for a
   * primitive value: no copy of the data is kept to find changes at commit.
   */
  readNow<K extends keyof Data & string>(session: Session<Data>, key: K): Data[K] | undefined;
  /** Runs the end-of-request store action (save or touch) for a session; throws `SessionError` on store failure. */
  persist(session: Session<Data>): Promise<void>;
  /** Whether committing this session would write the store or send a cookie now; synchronous, so hosts can skip the commit. */
  hasWork(session: Session<Data>): boolean;
  /** Computes the Set-Cookie values and cache headers for a session's response; from then on `regenerate()` throws `ERR_HEADERS_SENT`. */
  cookieHeaders(session: Session<Data>): Promise<CommitResult>;
  /** Tells the engine the response headers went out without `cookieHeaders()` (nothing to commit); from then on `regenerate()` throws `ERR_HEADERS_SENT`. */
  headersSent(session: Session<Data>): void;
  /**
   * Commits at once when that needs no await: nothing to write, or a write or touch of a store that
   * does them synchronously (the memory store) without a conflict, and no cookie to send or one whose
   * signature is known (signed before, or a synchronous `hmac`). Returns the headers to send;
   * undefined when it did nothing and `commit()` must do the work.
   */
  commitNow(session: Session<Data>): CommitResult | undefined;
  /**
   * `commitNow()`, else `commit()`, from one look at the session: the headers to send when nothing
   * needs an await, otherwise a promise of them, rejecting with `SessionError` (`ERR_STORE` for a
   * store failure, `ERR_VALUE` for data changed in place into something JSON cannot hold); it never
   * throws for those. For hosts that commit without a `Response` and want no promise when none is needed.
   */
  commitNowOrLater(session: Session<Data>): CommitResult | Promise<CommitResult>;
  /** Persists, then returns the headers to send. */
  commit(session: Session<Data>): Promise<CommitResult>;
  /** Persists, then applies the headers to a `Response` (copying it if its headers are immutable). */
  commit(session: Session<Data>, response: Response): Promise<Response>;
  /** Lists a user's sessions (stores with `listing`). */
  listSessions(userKey: string): Promise<ListedSession[]>;
  /** Destroys every session of a user, except `exceptId` if given; resolves how many were destroyed. */
  destroyUserSessions(userKey: string, options?: { exceptId?: string | undefined }): Promise<number>;
}

const EMPTY: CommitResult = Object.freeze({ setCookie: [], vary: false, cacheControl: false }) as CommitResult;

function withTimeout<T>(operation: string, ms: number, run: () => Promise<T>): Promise<T> {
  let promise: Promise<T>;
  try {
    promise = Promise.resolve(run());
  } catch (err) {
    return Promise.reject(storeError(operation, err));
  }
  if (ms <= 0) return promise.catch((err: unknown) => Promise.reject(storeError(operation, err)));
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    promise.then(
      (value) => {
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        reject(storeError(operation, err));
      },
    );
    // A store that answered at once (an in-process store) needs no timer: arm it only if the
    // call is still pending after the microtasks queued so far (saves a timer per store call).
    queueMicrotask(() => {
      if (!settled) timer = setTimeout(() => reject(storeError(operation, new Error(`timed out after ${ms} ms`))), ms);
    });
  });
}

/** A `Request`'s facts; `secure` and `forwardedProto` are read only when a cookie is made or checked for Secure (`request.url` builds a string). */
class FetchFacts implements RequestFacts {
  readonly cookie: string | null;
  constructor(readonly context: Request) {
    this.cookie = context.headers.get('cookie');
  }
  get secure(): boolean {
    return this.context.url.startsWith('https:');
  }
  get forwardedProto(): string | null {
    return this.context.headers.get('x-forwarded-proto');
  }
}

/** Facts about a Fetch `Request`: its Cookie header, whether its URL is https, and X-Forwarded-Proto. */
export function requestFacts(request: Request): RequestFacts {
  return new FetchFacts(request);
}

/** Appends a commit's headers to a `Response`, copying the response when its headers are immutable. */
export function applyToResponse(result: CommitResult, response: Response): Response {
  if (result.setCookie.length === 0) return response;
  let target = response;
  try {
    apply(result, target.headers);
  } catch {
    // A fetch()ed response (e.g. on Workers) has immutable headers: rebuild it around the same body.
    target = new Response(response.body, response);
    apply(result, target.headers);
  }
  return target;
}

function apply(result: CommitResult, headers: Headers): void {
  for (const value of result.setCookie) headers.append('set-cookie', value);
  if (result.vary) {
    const vary = headers.get('vary');
    if (!vary || !/(^|,)\s*(cookie|\*)\s*(,|$)/i.test(vary)) headers.append('vary', 'Cookie');
  }
  if (result.cacheControl && !headers.has('cache-control')) headers.set('cache-control', 'private');
}

/** Creates a session engine from options; throws `SessionError('ERR_CONFIG')` on a bad option. */
export function createSessionEngine<Data extends SessionData = SessionData>(
  options: SessionOptions,
  defaults?: Partial<SessionOptions>,
): SessionEngine<Data> {
  const resolved = resolveOptions(options, defaults);
  const signer = createSigner(resolved.secrets, resolved.hmac);
  const { onEvent, storeTimeout, store } = resolved;
  const policy: CommitPolicy = {
    resave: resolved.resave,
    saveUninitialized: resolved.saveUninitialized,
    rolling: resolved.rolling,
    resendOnCookieChange: resolved.resendOnCookieChange,
    idleTimeout: resolved.idleTimeout !== undefined,
    touchAfter: resolved.touchAfter,
  };
  const emit = (event: SessionEvent): void => {
    if (!onEvent) return;
    try {
      onEvent(event);
    } catch {
      // A faulty logger must not break a request.
    }
  };
  const ctx: SessionContext = {
    options: resolved,
    signer,
    verifier: createCookieVerifier(signer),
    call: (operation, run) => withTimeout(operation, storeTimeout, run),
    emit,
  };
  const handle = (session: Session<Data>): SessionHandle<Data> => {
    if (!(session instanceof SessionHandle)) throw new SessionError('ERR_STATE', 'not a session from this engine');
    return session;
  };

  const persist = async (session: Session<Data>): Promise<void> => {
    const s = handle(session);
    if (!s.loaded || s.readOnly) return;
    await s.persist(decideStoreAction(s.commitState(), policy));
  };

  /** The commit state, or the `ERR_VALUE` error thrown when the data no longer serialises (changed in place into a cycle, say). */
  const stateOrError = (s: SessionHandle<Data>): CommitState | SessionError => {
    try {
      return s.commitState();
    } catch (err) {
      return err as SessionError;
    }
  };

  const hasWork = (session: Session<Data>): boolean => {
    const s = handle(session);
    if (!s.loaded || s.readOnly) return false;
    const state = stateOrError(s);
    // Data that no longer serialises: the commit will report it, so there is work (to fail).
    if (state instanceof Error) return true;
    return decideStoreAction(state, policy) !== 'none' || (!s.lost && decideCookieAction(state, policy) !== 'none');
  };

  const cookieHeaders = async (session: Session<Data>): Promise<CommitResult> => {
    const s = handle(session);
    s.markCookieSent();
    if (!s.loaded || s.readOnly) return EMPTY;
    return headersFor(s, s.commitState());
  };

  /** The Set-Cookie for a state already computed (a store write does not change what decides the cookie). */
  const headersFor = async (s: SessionHandle<Data>, state: CommitState): Promise<CommitResult> => {
    const action = s.lost ? 'none' : decideCookieAction(state, policy);
    return cookieResult(s, state, action, action === 'set' ? await s.signedValue() : '');
  };

  /** The headers for a cookie action decided from `state`; `signed` is the signed value when the action is 'set'. */
  const cookieResult = (s: SessionHandle<Data>, state: CommitState, action: CookieAction, signed: string): CommitResult => {
    if (action === 'none') {
      if (!state.deliverable && !state.destroyed) emit({ type: 'skip-undeliverable' });
      return EMPTY;
    }
    const cookie = s.cookie;
    const attrs = {
      domain: cookie.domain,
      path: cookie.path,
      httpOnly: cookie.httpOnly,
      secure: cookie.secure,
      sameSite: cookie.sameSite,
      partitioned: cookie.partitioned,
      priority: cookie.priority,
    };
    if (action === 'clear') return { setCookie: [serializeClearCookie(resolved.name, attrs)], vary: true, cacheControl: true };
    s.touchOnce();
    if (state.signedWithOldSecret) emit({ type: 're-sign' });
    const value = serializeCookie(resolved.name, signed, { ...attrs, expires: cookie.expires }, Date.now());
    return { setCookie: [value], vary: true, cacheControl: true };
  };

  const commitNow = (session: Session<Data>): CommitResult | undefined => {
    const s = handle(session);
    if (!s.loaded || s.readOnly) {
      s.markCookieSent();
      return EMPTY;
    }
    const state = stateOrError(s);
    // Data that no longer serialises: commit() reports it.
    return state instanceof Error ? undefined : commitAtOnce(s, state);
  };

  /** The commit of `state` when the store action and the signature need no await; undefined (nothing done) otherwise. */
  const commitAtOnce = (s: SessionHandle<Data>, state: CommitState): CommitResult | undefined => {
    const action = s.lost ? 'none' : decideCookieAction(state, policy);
    let signed = '';
    if (action === 'set') {
      try {
        signed = s.signedValueNow() ?? '';
      } catch {
        // A throwing hmac: commit() reports it.
        return undefined;
      }
      if (signed === '') return undefined;
    }
    if (!s.persistNow(decideStoreAction(state, policy))) return undefined;
    s.markCookieSent();
    return cookieResult(s, state, action, signed);
  };

  function commit(session: Session<Data>): Promise<CommitResult>;
  function commit(session: Session<Data>, response: Response): Promise<Response>;
  function commit(session: Session<Data>, response?: Response): Promise<CommitResult | Response> {
    let s: SessionHandle<Data>;
    try {
      s = handle(session);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!s.loaded || s.readOnly) {
      // Nothing to save or send (a route that never used the session): no async step for it.
      s.markCookieSent();
      return Promise.resolve(response ?? EMPTY);
    }
    return commitLoaded(s, response);
  }

  async function commitLoaded(s: SessionHandle<Data>, response: Response | undefined): Promise<CommitResult | Response> {
    const result = await settle(s);
    return response ? applyToResponse(result, response) : result;
  }

  /**
   * One state for both decisions, and for both ways of committing: computing it means serialising
   * the data to find changes. At once when the store and signer allow it, else a promise.
   */
  const settle = (s: SessionHandle<Data>): CommitResult | Promise<CommitResult> => {
    const state = stateOrError(s);
    // Data that no longer serialises (ERR_VALUE): a rejection, like a store failure, never a throw.
    if (state instanceof Error) return Promise.reject(state);
    return commitAtOnce(s, state) ?? commitLater(s, state);
  };

  async function commitLater(s: SessionHandle<Data>, state: CommitState): Promise<CommitResult> {
    await s.persist(decideStoreAction(state, policy));
    s.markCookieSent();
    return headersFor(s, state);
  }

  const commitNowOrLater = (session: Session<Data>): CommitResult | Promise<CommitResult> => {
    const s = handle(session);
    if (!s.loaded || s.readOnly) {
      s.markCookieSent();
      return EMPTY;
    }
    return settle(s);
  };

  return {
    options: resolved,
    load: (input) => new SessionHandle<Data>(ctx, typeof input !== 'function' && isRequest(input) ? () => requestFacts(input) : input),
    persist,
    cookieHeaders,
    hasWork,
    headersSent(session) {
      const s = handle(session);
      s.markCookieSent();
      // The same report a commit gives for a session whose Secure cookie this request cannot carry.
      if (s.loaded && !s.readOnly && !s.destroyed && !s.deliverable) emit({ type: 'skip-undeliverable' });
    },
    loadNow: (session) => handle(session).loadSync(),
    readNow: (session, key) => handle(session).valueNow(key),
    commitNow,
    commitNowOrLater,
    commit,
    async listSessions(userKey) {
      if (typeof store.listByUser !== 'function') throw new SessionError('ERR_CONFIG', 'websession: this store cannot list sessions by user (capabilities.listing is false)');
      const now = Date.now();
      const listed = await ctx.call('listByUser', () => store.listByUser!(userKey));
      return listed.filter(({ record }) => record && typeof record === 'object' && !isRecordExpired(record, now, resolved));
    },
    async destroyUserSessions(userKey, opts) {
      const sessions = await this.listSessions(userKey);
      let count = 0;
      for (const { id } of sessions) {
        if (id === opts?.exceptId) continue;
        await ctx.call('destroy', () => store.destroy(id));
        count++;
      }
      emit({ type: 'destroy' });
      return count;
    },
  };
}

function isRequest(input: Request | RequestFacts): input is Request {
  // Duck-typed without reading a property: hosts such as @hono/node-server hand over Request
  // look-alikes that build a real Request on first access to their headers.
  return 'headers' in input && 'url' in input;
}

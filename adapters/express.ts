/**
 * `websession/express`: a drop-in replacement for express-session. Same options, same
 * defaults, same `req.session` API and the same signed cookie and stored record, so an app can
 * switch by changing one import line (and back) without logging anybody out. The differences
 * are only the deliberate fixes listed in the README's migration section.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import session from 'websession/express';
 * const app = express();
 * app.use(session({ secret: process.env.SESSION_SECRET!, resave: false, saveUninitialized: false }));
 * app.get('/', (req, res) => {
 *   req.session.views = (req.session.views ?? 0) + 1;
 *   res.send(`views: ${req.session.views}`);
 * });
 * ```
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createMemoryStore,
  createSessionEngine,
  fromConnectStore,
  isConnectStore,
  resolveCookie,
  type CommitResult,
  type ConnectStore,
  type CookieOptions,
  type HmacSha256,
  type Secret,
  type Session,
  type SessionCookie,
  type SessionEngine,
  type SessionEvent,
  type SessionOptions,
  type Store,
} from '../src/index.ts';
import { nodeHmac } from './node-hmac.ts';
import { hookResponse, hooksOfRequest, topPrototype, type ResponseHooks } from './node-response.ts';

/** express-session's options, plus websession's optional extras. */
export interface ExpressSessionOptions {
  /** Secret(s) for signing; the first signs, all verify. Falls back to `req.secret` (cookie-parser) like express-session. */
  secret?: Secret | readonly Secret[] | undefined;
  /** Cookie name. @default 'connect.sid' */
  name?: string | undefined;
  /** Legacy alias of `name`. */
  key?: string | undefined;
  /** A websession store or any express-session store (connect-redis, connect-pg-simple, ...). @default a websession memory store */
  store?: Store | ConnectStore | undefined;
  /** Cookie settings (`maxAge` in milliseconds), or a function of `req` returning them per request. @default { path: '/', httpOnly: true, secure: false, maxAge: null } */
  cookie?: CookieOptions | ((req: IncomingMessage) => CookieOptions) | undefined;
  /** Generates session IDs; receives `req`. @default 32 random bytes, base64url */
  genid?: ((req: IncomingMessage) => string) | undefined;
  /** Trust `X-Forwarded-Proto` (true), never (false), or use Express's `req.secure` (unset). @default unset */
  proxy?: boolean | undefined;
  /** Save unchanged sessions back to the store on every request. @default true (with a deprecation notice, as express-session) */
  resave?: boolean | undefined;
  /** Re-send the cookie on every response. @default false */
  rolling?: boolean | undefined;
  /** Store new sessions that were not modified. @default true (with a deprecation notice, as express-session) */
  saveUninitialized?: boolean | undefined;
  /** What `req.session = null` does: `'keep'` the stored session or `'destroy'` it. @default 'keep' */
  unset?: 'keep' | 'destroy' | undefined;
  /** websession extra: idle timeout in ms enforced by the engine. @default unset */
  idleTimeout?: number | undefined;
  /** websession extra: absolute timeout in ms enforced by the engine. @default unset */
  absoluteTimeout?: number | undefined;
  /** websession extra: store call timeout in ms. @default 5000 */
  storeTimeout?: number | undefined;
  /** websession extra: receives every decision the engine makes. */
  onEvent?: ((event: SessionEvent) => void) | undefined;
  /** websession extra: the HMAC-SHA256 that signs and verifies cookies. @default node:crypto's (`nodeHmac`) */
  hmac?: HmacSha256 | undefined;
}

/** The `req.session` object: session data as properties, plus express-session's methods. */
export interface ExpressSession {
  /** The session ID (read-only). */
  readonly id: string;
  /** The cookie, with `maxAge`, `expires` and `originalMaxAge` as in express-session. */
  cookie: SessionCookie;
  /** New ID and empty data; callback or promise. */
  regenerate(callback?: (err?: unknown) => void): Promise<void>;
  /** Deletes the session and unsets `req.session`; callback or promise. */
  destroy(callback?: (err?: unknown) => void): Promise<void>;
  /** Re-reads the session from the store; callback or promise. */
  reload(callback?: (err?: unknown) => void): Promise<void>;
  /** Saves the session now; callback or promise. */
  save(callback?: (err?: unknown) => void): Promise<void>;
  /** Resets the cookie's expiry to now + `originalMaxAge`. */
  touch(): ExpressSession;
  /** Same as `touch()`. */
  resetMaxAge(): ExpressSession;
  /** Session data. */
  [key: string]: unknown;
}

/** The request fields this middleware sets, for typing handlers without augmenting Express. */
export interface SessionRequest extends IncomingMessage {
  session?: ExpressSession | null;
  sessionID?: string;
  sessionStore?: Store | ConnectStore;
  originalUrl?: string;
  secure?: boolean;
  secret?: string;
}

type Next = (err?: unknown) => void;
/** An Express/Connect middleware, with the engine behind it (for listing and revoking sessions). */
export interface SessionMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: Next): void;
  /** The engine, when a `secret` option was given (with cookie-parser's `req.secret` there is one per secret). */
  readonly engine: SessionEngine | undefined;
}

/**
 * The websession handle behind `req.session`, for what express-session has no API for:
 * `setUser()` (per-user listing), `flash()`, `freshReason`, `regenerate({ keepData })`.
 */
export function getSession(req: IncomingMessage): Session | undefined {
  return stateOf(req)?.session;
}

/** The middleware's state for a request, if it ran for it. */
function stateOf(req: object): RequestSession | undefined {
  const hooks = hooksOfRequest(req);
  return hooks instanceof RequestSession && hooks.req === req ? hooks : undefined;
}

const METHODS = new Set(['id', 'cookie', 'regenerate', 'destroy', 'reload', 'save', 'touch', 'resetMaxAge']);
const warned = new Set<string>();

function deprecate(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  console.warn(`websession/express deprecated ${message}`);
}

function callbackOrPromise(run: Promise<void>, callback: ((err?: unknown) => void) | undefined): Promise<void> {
  if (typeof callback !== 'function') return run;
  run.then(() => callback(), (err: unknown) => callback(err));
  return run.then(undefined, () => undefined);
}

/** Where a facade keeps its request: the Proxy target, reached from methods through `this[TARGET]`. */
const TARGET = Symbol('websession.facade');

/** An Express request's facts for the engine; a class, so that `secure` can be read late without a per-request getter object. */
class ExpressFacts {
  constructor(
    readonly context: SessionRequest,
    readonly cookie: string | undefined,
    readonly forwardedProto: string | undefined,
    readonly cookieOptions: ReturnType<typeof resolveCookie> | undefined,
    /** Use Express's `req.secure` (the `proxy` option is unset). */
    private readonly expressSecure: boolean,
  ) {}

  /** Read only when a cookie setting needs it (`secure: true` or `'auto'`): Express's `req.secure` is a chain of getters. */
  get secure(): boolean {
    const req = this.context;
    return (req.socket as { encrypted?: boolean } | null)?.encrypted === true || (this.expressSecure && req.secure === true);
  }
}

/**
 * One request's session state: the Proxy target behind `req.session`, and the response hooks.
 * A class with shared methods, so a request allocates one object instead of a set of closures.
 * For a visitor without a session cookie the session is opened on first use (see `open()`).
 */
class RequestSession implements ResponseHooks {
  facade: ExpressSession | undefined;
  /** The session; for a session left for first use, undefined until something reads it. */
  current: Session | undefined;
  /** The session is loaded and the app has it: from then on the hooks commit it. */
  attached = false;
  destroyed = false;
  /** The app assigned `req.session` before ever reading it. */
  replaced = false;
  /** The response headers went out (a session opened later must not try to send a cookie). */
  headersGone = false;
  constructor(
    readonly req: SessionRequest,
    readonly engine: SessionEngine,
    readonly store: Store | ConnectStore,
    readonly unset: 'keep' | 'destroy',
    readonly next: Next,
    readonly facts: ExpressFacts,
  ) {}

  /** The session, opened now if it was left for first use (then it is new: no cookie, built-in IDs, so it loads at once). */
  get session(): Session {
    if (this.current === undefined) {
      const session = this.engine.load(this.facts);
      this.engine.loadNow(session);
      if (this.headersGone) this.engine.headersSent(session);
      this.current = session;
      this.attached = true;
    }
    return this.current;
  }

  /** `req.session` on first read when the session was left for first use: the facade, now an own property. */
  open(): ExpressSession | undefined {
    // Deleted or replaced by the app, or a returning visitor's session still loading (as before the middleware set it).
    if (this.facade !== undefined || this.replaced || (this.current !== undefined && !this.attached)) return undefined;
    void this.session;
    return this.attach();
  }

  /** Gives the request its facade. */
  attach(): ExpressSession {
    const facade = new Proxy(this, facadeHandler) as unknown as ExpressSession;
    this.facade = facade;
    setOwn(this.req, 'session', facade);
    return facade;
  }

  /** Is the session no longer the app's? (`req.session` deleted, set to null or replaced, without destroy().) */
  unsetByApp(): boolean {
    if (this.destroyed) return false;
    if (this.facade === undefined) return this.replaced;
    return !hasOwn.call(this.req, 'session') || this.req.session !== this.facade;
  }

  /** The app gave `req.sessionID` a value that is not a string (the accessor itself always reads the session's ID). */
  badId(): boolean {
    return hasOwn.call(this.req, 'sessionID') && typeof this.req.sessionID !== 'string';
  }

  /** Whether there is a session for the hooks to commit. */
  get active(): boolean {
    return this.attached && (this.facade !== undefined || !this.replaced);
  }

  async headers(): Promise<CommitResult> {
    if (!this.active || this.unsetByApp() || this.badId()) return EMPTY;
    return this.engine.cookieHeaders(this.current!);
  }

  async persist(): Promise<void> {
    if (!this.active) return;
    if (this.unsetByApp()) {
      if (this.unset === 'destroy') {
        this.destroyed = true;
        await this.current!.destroy();
      }
      return;
    }
    if (this.badId()) return;
    await this.engine.persist(this.current!);
  }

  async finish(): Promise<CommitResult> {
    if (!this.active) return EMPTY;
    if (this.unsetByApp() || this.badId()) {
      // Unset or a bogus sessionID: whatever persist() decides (a destroy may clear the cookie).
      await this.persist();
      return this.headers();
    }
    return this.engine.commit(this.current!);
  }

  /** `finish()` without an await when the engine can commit at once, else begun (a promise); undefined leaves it to `idle()` and `finish()`. */
  finishNow(): CommitResult | Promise<CommitResult> | undefined {
    if (!this.active) {
      this.sent();
      return EMPTY;
    }
    // Unset or a bogus sessionID take idle()'s and finish()'s own paths.
    if (this.unsetByApp() || this.badId()) return undefined;
    const result = this.engine.commitNowOrLater(this.current!);
    if (!(result instanceof Promise)) this.headersGone = true;
    return result;
  }

  idle(): boolean {
    if (!this.active) return true;
    if (this.unsetByApp()) return this.unset !== 'destroy';
    return this.badId() || !this.engine.hasWork(this.current!);
  }

  sent(): void {
    this.headersGone = true;
    if (this.current !== undefined) this.engine.headersSent(this.current);
  }

  fail(error: unknown, headersSent: boolean): void {
    // Store errors reach the app's error handler, as with express-session; before the
    // headers went out this replaces the response instead of following it.
    if (headersSent) setImmediate(this.next, error);
    else this.next(error);
  }

  /** The data object of the session. */
  get data(): Record<string, unknown> {
    return this.session.data;
  }

  /** console.log(req.session) inspects the proxy's target: show what express-session would. */
  [Symbol.for('nodejs.util.inspect.custom')](): unknown {
    return { cookie: this.session.cookie, ...this.data };
  }
}

const hasOwn = Object.prototype.hasOwnProperty;

/** Gives `req` an own data property, as a plain assignment would without the accessors below. */
function setOwn(req: object, key: string, value: unknown): void {
  Object.defineProperty(req, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * `req.session`, `req.sessionID` and `req.sessionStore` as accessors on Express's request
 * prototype, so a request gets no own property it does not use (each costs about 3 µs; see
 * node-response.ts). Assigning any of them gives the request an own property, as without them;
 * `req.session` becomes an own property on first read, so `delete req.session` works as with
 * express-session. Requests the middleware did not see read `undefined`.
 */
const requestAccessors: PropertyDescriptorMap = {
  session: {
    get(this: SessionRequest) {
      return stateOf(this)?.open();
    },
    set(this: SessionRequest, value: unknown) {
      const state = stateOf(this);
      if (state !== undefined && state.facade === undefined) state.replaced = true;
      setOwn(this, 'session', value);
    },
    configurable: true,
  },
  sessionID: {
    get(this: SessionRequest) {
      const state = stateOf(this);
      // While a returning visitor's session loads there is no ID yet, as with express-session.
      return state === undefined || (state.current !== undefined && !state.attached) ? undefined : state.session.id;
    },
    set(this: SessionRequest, value: unknown) {
      setOwn(this, 'sessionID', value);
    },
    configurable: true,
  },
  sessionStore: {
    get(this: SessionRequest) {
      return stateOf(this)?.store;
    },
    set(this: SessionRequest, value: unknown) {
      setOwn(this, 'sessionStore', value);
    },
    configurable: true,
  },
};

/** Request prototypes known to reach the accessors (Express's, per app and mounted sub-app). */
const withAccessors = new WeakSet<object>();

/**
 * Installs {@link requestAccessors} on the topmost prototype of `req` that is not a class's
 * (Express's shared `request` object, below every app's `app.request`, so they stay in the chain
 * when a mounted sub-app hands the request back); false when `req` has no such prototype (plain
 * `node:http`, Connect) or the names are taken there.
 */
function accessorsFor(req: object): boolean {
  const first = Object.getPrototypeOf(req) as object | null;
  if (first === null) return false;
  if (withAccessors.has(first)) return true;
  const top = topPrototype(req);
  if (top === undefined || !Object.isExtensible(top)) return false;
  if (Object.getOwnPropertyDescriptor(top, 'session')?.get !== requestAccessors.session!.get) {
    if (hasOwn.call(top, 'session') || hasOwn.call(top, 'sessionID') || hasOwn.call(top, 'sessionStore')) return false;
    Object.defineProperties(top, requestAccessors);
  }
  withAccessors.add(first);
  return true;
}

const EMPTY: CommitResult = Object.freeze({ setCookie: [], vary: false, cacheControl: false }) as CommitResult;

function targetOf(facade: ExpressSession): RequestSession {
  return (facade as unknown as { [TARGET]: RequestSession })[TARGET];
}

// express-session's Session methods; like theirs they work on `this` (the facade).
const methods = {
  regenerate(this: ExpressSession, callback?: (err?: unknown) => void): Promise<void> {
    const t = targetOf(this);
    const facade = this;
    return callbackOrPromise(
      t.session.regenerate().then(() => {
        // With the accessors, req.sessionID reads the session's ID; an own one is kept up to date.
        if (hasOwn.call(t.req, 'sessionID')) t.req.sessionID = t.session.id;
        t.req.session = facade;
      }),
      callback,
    );
  },
  destroy(this: ExpressSession, callback?: (err?: unknown) => void): Promise<void> {
    const t = targetOf(this);
    delete t.req.session;
    t.destroyed = true;
    return callbackOrPromise(t.session.destroy(), callback);
  },
  reload(this: ExpressSession, callback?: (err?: unknown) => void): Promise<void> {
    return callbackOrPromise(targetOf(this).session.reload(), callback);
  },
  save(this: ExpressSession, callback?: (err?: unknown) => void): Promise<void> {
    return callbackOrPromise(targetOf(this).session.save(), callback);
  },
  touch(this: ExpressSession): ExpressSession {
    targetOf(this).session.touch();
    return this;
  },
  resetMaxAge(this: ExpressSession): ExpressSession {
    targetOf(this).session.touch();
    return this;
  },
};
/** `req.session`'s behaviour: own keys are `cookie` plus the data, like express-session's Session. One handler for all requests. */
const facadeHandler: ProxyHandler<RequestSession> = {
  get(t, key) {
    if (typeof key === 'symbol') return key === TARGET ? t : undefined;
    if (key === 'id') return t.session.id;
    if (key === 'cookie') return t.session.cookie;
    if (key === 'req') return t.req;
    if (hasOwn.call(methods, key)) return methods[key as keyof typeof methods];
    // A value read without `data`: a primitive needs no copy of the data to find changes later.
    const value = t.engine.readNow(t.session, key);
    if (value !== undefined) return value;
    const d = t.data;
    if (!(key in d) && key in Object.prototype) return (Object.prototype as Record<string, unknown>)[key];
    return d[key];
  },
  set(t, key, value) {
    if (typeof key === 'symbol' || METHODS.has(key)) return key === 'cookie' ? false : true;
    t.data[key] = value;
    return true;
  },
  deleteProperty(t, key) {
    if (typeof key === 'string' && !METHODS.has(key)) delete t.data[key];
    return true;
  },
  has(t, key) {
    return typeof key === 'string' && (METHODS.has(key) || key in t.data);
  },
  ownKeys(t) {
    return ['cookie', ...Object.keys(t.data).filter((k) => !METHODS.has(k))];
  },
  getOwnPropertyDescriptor(t, key) {
    if (key === 'cookie') return { value: t.session.cookie, enumerable: true, configurable: true, writable: true };
    if (typeof key !== 'string' || METHODS.has(key) || !hasOwn.call(t.data, key)) return undefined;
    return { value: t.data[key], enumerable: true, configurable: true, writable: true };
  },
};

function requestPath(req: SessionRequest): string {
  const url = req.originalUrl || req.url || '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * The session middleware: express-session's options and behaviour on websession's engine.
 * Configuration mistakes throw here, at construction.
 */
export function session(options: ExpressSessionOptions = {}): SessionMiddleware {
  const opts = { ...options };
  if (opts.genid !== undefined && typeof opts.genid !== 'function') throw new TypeError('genid option must be a function');
  const unset = opts.unset ?? 'keep';
  if (unset !== 'keep' && unset !== 'destroy') throw new TypeError('unset option must be "destroy" or "keep"');
  if (Array.isArray(opts.secret) && opts.secret.length === 0) throw new TypeError('secret option array must contain one or more strings');
  if (opts.resave === undefined) deprecate('undefined resave option; provide resave option');
  if (opts.saveUninitialized === undefined) deprecate('undefined saveUninitialized option; provide saveUninitialized option');
  if (opts.secret === undefined) deprecate('req.secret; provide secret option');

  const userStore = opts.store ?? createMemoryStore();
  const store: Store = isConnectStore(userStore) ? fromConnectStore(userStore) : userStore;
  const name = opts.name ?? opts.key ?? 'connect.sid';
  const cookieDefaults: CookieOptions = { path: '/', httpOnly: true, secure: false, maxAge: null };
  const cookieFn = typeof opts.cookie === 'function' ? opts.cookie : undefined;
  const cookieOptions: CookieOptions = { ...cookieDefaults, ...(cookieFn ? {} : (opts.cookie as CookieOptions | undefined)) };
  const genid = opts.genid;

  // express-session's defaults, so that nothing changes for an app that switches.
  const defaults: Partial<SessionOptions> = { name: 'connect.sid', cookie: {}, resave: true, saveUninitialized: true, resendOnCookieChange: false, touchAfter: 0 };
  const build = (secret: Secret | readonly Secret[]): SessionEngine =>
    createSessionEngine(
      {
        secret,
        store,
        name,
        cookie: cookieOptions,
        rolling: opts.rolling,
        resave: opts.resave,
        saveUninitialized: opts.saveUninitialized,
        genid: genid ? (context) => genid(context as IncomingMessage) : undefined,
        proxy: opts.proxy,
        idleTimeout: opts.idleTimeout,
        absoluteTimeout: opts.absoluteTimeout,
        storeTimeout: opts.storeTimeout,
        onEvent: opts.onEvent,
        hmac: opts.hmac ?? nodeHmac,
      },
      defaults,
    );
  const configured = opts.secret !== undefined ? build(opts.secret) : undefined;
  // A new session may wait for first use when it would not be stored untouched and its ID needs no genid call.
  const lazyFresh = opts.saveUninitialized === false && genid === undefined;
  const bySecret = new Map<string, SessionEngine>();

  // express-session stops handing out sessions while its store reports 'disconnect'.
  let storeReady = true;
  if (typeof (userStore as ConnectStore).on === 'function') {
    (userStore as ConnectStore).on!('disconnect', () => {
      storeReady = false;
    });
    (userStore as ConnectStore).on!('connect', () => {
      storeReady = true;
    });
  }

  const middleware = function sessionMiddleware(request: IncomingMessage, res: ServerResponse, next: Next): void {
    const req = request as SessionRequest;
    if (req.session) return next();
    if (!storeReady) return next();
    // express-session 1.19's function form: options per request ('auto' values resolved too).
    let perRequest: ReturnType<typeof resolveCookie> | undefined;
    if (cookieFn) {
      try {
        perRequest = resolveCookie(name, { ...cookieDefaults, ...cookieFn(req) }, {});
      } catch (error) {
        return next(error);
      }
    }
    if (!requestPath(req).startsWith(perRequest?.path ?? cookieOptions.path ?? '/')) return next();
    let engine = configured;
    if (!engine) {
      if (!req.secret) return next(new Error('secret option required for sessions'));
      engine = bySecret.get(req.secret);
      if (!engine) bySecret.set(req.secret, (engine = build(req.secret)));
    }
    const accessors = accessorsFor(req);
    const header = req.headers.cookie;
    const forwarded = req.headers['x-forwarded-proto'];
    const facts = new ExpressFacts(req, header, Array.isArray(forwarded) ? forwarded[0] : forwarded, perRequest, opts.proxy === undefined);
    const state = new RequestSession(req, engine, userStore, unset, next, facts);
    // Remembered, so the accessors and getSession() find it from the request.
    hookResponse(res, state, true);
    if (!accessors) req.sessionStore = userStore;
    // No cookie of ours and nothing to store for a new session: opened on first use, so a
    // route that never touches the session costs no ID, no session object and no property.
    if (accessors && lazyFresh && (header === undefined || !header.includes(name))) return next();
    const current = engine.load(facts);
    state.current = current;
    const attach = (): void => {
      state.attached = true;
      state.attach();
      if (!accessors) req.sessionID = current.id;
      next();
    };
    // A visitor without a session cookie gets a fresh session at once: no crypto, no store, no await.
    if (engine.loadNow(current)) attach();
    else current.load().then(attach, (error: unknown) => next(error));
  };
  return Object.assign(middleware, { engine: configured });
}

export default session;

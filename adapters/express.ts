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
import { hookResponse, prototypeHooksOf, type ResponseHooks } from './node-response.ts';

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

const handles = new WeakMap<IncomingMessage, Session>();

/**
 * The websession handle behind `req.session`, for what express-session has no API for:
 * `setUser()` (per-user listing), `flash()`, `freshReason`, `regenerate({ keepData })`.
 */
export function getSession(req: IncomingMessage): Session | undefined {
  const res = (req as { res?: ServerResponse }).res;
  const hooks = res ? prototypeHooksOf(res) : undefined;
  return hooks instanceof RequestSession && hooks.req === req ? hooks.session : handles.get(req);
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

/**
 * One request's session state: the Proxy target behind `req.session`, and the response hooks.
 * A class with shared methods, so a request allocates one object instead of a set of closures.
 */
class RequestSession implements ResponseHooks {
  facade: ExpressSession | undefined;
  destroyed = false;
  constructor(
    readonly req: SessionRequest,
    readonly engine: SessionEngine,
    readonly session: Session,
    readonly unset: 'keep' | 'destroy',
    readonly next: Next,
  ) {}

  /** Is the session no longer the app's? (`req.session = null` or replaced, without destroy().) */
  unsetByApp(): boolean {
    return this.req.session !== this.facade && !this.destroyed;
  }

  async headers(): Promise<CommitResult> {
    if (!this.facade || this.unsetByApp() || typeof this.req.sessionID !== 'string') return EMPTY;
    return this.engine.cookieHeaders(this.session);
  }

  async persist(): Promise<void> {
    if (!this.facade) return;
    if (this.unsetByApp()) {
      if (this.unset === 'destroy') {
        this.destroyed = true;
        await this.session.destroy();
      }
      return;
    }
    if (typeof this.req.sessionID !== 'string') return;
    await this.engine.persist(this.session);
  }

  async finish(): Promise<CommitResult> {
    if (!this.facade) return EMPTY;
    if (this.unsetByApp() || typeof this.req.sessionID !== 'string') {
      // Unset or a bogus sessionID: whatever persist() decides (a destroy may clear the cookie).
      await this.persist();
      return this.headers();
    }
    return this.engine.commit(this.session);
  }

  idle(): boolean {
    if (!this.facade) return true;
    if (this.unsetByApp()) return this.unset !== 'destroy';
    return typeof this.req.sessionID !== 'string' || !this.engine.hasWork(this.session);
  }

  sent(): void {
    this.engine.headersSent(this.session);
  }

  fail(error: unknown, headersSent: boolean): void {
    // Store errors reach the app's error handler, as with express-session; before the
    // headers went out this replaces the response instead of following it.
    if (headersSent) setImmediate(this.next, error);
    else this.next(error);
  }

  /** The data object of the session (loaded before the facade exists). */
  get data(): Record<string, unknown> {
    return this.session.data;
  }

  /** console.log(req.session) inspects the proxy's target: show what express-session would. */
  [Symbol.for('nodejs.util.inspect.custom')](): unknown {
    return { cookie: this.session.cookie, ...this.data };
  }
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
        t.req.sessionID = t.session.id;
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
const hasOwn = Object.prototype.hasOwnProperty;

/** `req.session`'s behaviour: own keys are `cookie` plus the data, like express-session's Session. One handler for all requests. */
const facadeHandler: ProxyHandler<RequestSession> = {
  get(t, key) {
    if (typeof key === 'symbol') return key === TARGET ? t : undefined;
    if (key === 'id') return t.session.id;
    if (key === 'cookie') return t.session.cookie;
    if (key === 'req') return t.req;
    if (hasOwn.call(methods, key)) return methods[key as keyof typeof methods];
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
  const defaults: Partial<SessionOptions> = { name: 'connect.sid', cookie: {}, resave: true, saveUninitialized: true, resendOnCookieChange: false };
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
    req.sessionStore = userStore;
    const encrypted = (req.socket as { encrypted?: boolean } | null)?.encrypted === true;
    const forwarded = req.headers['x-forwarded-proto'];
    const current = engine.load({
      cookie: req.headers.cookie,
      secure: encrypted || (opts.proxy === undefined && req.secure === true),
      forwardedProto: Array.isArray(forwarded) ? forwarded[0] : forwarded,
      context: req,
      cookieOptions: perRequest,
    });
    const state = new RequestSession(req, engine, current, unset, next);
    // Hooked through the prototype, the request's session is found from `req.res`; otherwise
    // it is remembered here (one WeakMap entry per request is measurable, so never two).
    const viaPrototype = hookResponse(res, state);
    const attach = (): void => {
      const facade = new Proxy(state, facadeHandler) as unknown as ExpressSession;
      state.facade = facade;
      req.session = facade;
      req.sessionID = current.id;
      if (!viaPrototype || (req as { res?: unknown }).res !== res) handles.set(req, current);
      next();
    };
    // A visitor without a session cookie gets a fresh session at once: no crypto, no store, no await.
    if (engine.loadNow(current)) attach();
    else current.load().then(attach, (error: unknown) => next(error));
  };
  return Object.assign(middleware, { engine: configured });
}

export default session;

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
  type ConnectStore,
  type CookieOptions,
  type Secret,
  type Session,
  type SessionCookie,
  type SessionEngine,
  type SessionEvent,
  type SessionOptions,
  type Store,
} from '../src/index.ts';
import { hookResponse } from './node-response.ts';

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
  return handles.get(req);
}

const METHODS = new Set(['id', 'cookie', 'regenerate', 'destroy', 'reload', 'save', 'touch', 'resetMaxAge']);
const warned = new Set<string>();

function deprecate(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  console.warn(`websession/express deprecated ${message}`);
}

function callbackOrPromise(run: () => Promise<void>, callback: ((err?: unknown) => void) | undefined): Promise<void> {
  const promise = run();
  if (typeof callback !== 'function') return promise;
  promise.then(() => callback(), (err: unknown) => callback(err));
  return promise.then(undefined, () => undefined);
}

/** Builds `req.session`: a proxy whose own keys are `cookie` plus the data, like express-session's Session. */
function createFacade(req: SessionRequest, session: Session, onDestroyed: () => void): ExpressSession {
  const methods = {
    regenerate: (callback?: (err?: unknown) => void) =>
      callbackOrPromise(async () => {
        await session.regenerate();
        req.sessionID = session.id;
        req.session = facade;
      }, callback),
    destroy: (callback?: (err?: unknown) => void) =>
      callbackOrPromise(async () => {
        delete req.session;
        onDestroyed();
        await session.destroy();
      }, callback),
    reload: (callback?: (err?: unknown) => void) => callbackOrPromise(() => session.reload(), callback),
    save: (callback?: (err?: unknown) => void) => callbackOrPromise(() => session.save(), callback),
    touch: () => {
      session.touch();
      return facade;
    },
    resetMaxAge: () => {
      session.touch();
      return facade;
    },
  };
  const data = (): Record<string, unknown> => session.data;
  const target = Object.create(null) as ExpressSession;
  // console.log(req.session) inspects the proxy's target: show what express-session would.
  Object.defineProperty(target, Symbol.for('nodejs.util.inspect.custom'), {
    value: () => ({ cookie: session.cookie, ...data() }),
    configurable: true,
  });
  const facade = new Proxy(target, {
    get(_target, key) {
      if (typeof key === 'symbol') return undefined;
      if (key === 'id') return session.id;
      if (key === 'cookie') return session.cookie;
      if (key === 'req') return req;
      if (Object.prototype.hasOwnProperty.call(methods, key)) return methods[key as keyof typeof methods];
      const d = data();
      if (!(key in d) && key in Object.prototype) return (Object.prototype as Record<string, unknown>)[key];
      return d[key];
    },
    set(_target, key, value) {
      if (typeof key === 'symbol' || METHODS.has(key)) return key === 'cookie' ? false : true;
      data()[key] = value;
      return true;
    },
    deleteProperty(_target, key) {
      if (typeof key === 'string' && !METHODS.has(key)) delete data()[key];
      return true;
    },
    has(_target, key) {
      return typeof key === 'string' && (METHODS.has(key) || key in data());
    },
    ownKeys() {
      return ['cookie', ...Object.keys(data()).filter((k) => !METHODS.has(k))];
    },
    getOwnPropertyDescriptor(_target, key) {
      if (key === 'cookie') return { value: session.cookie, enumerable: true, configurable: true, writable: true };
      if (typeof key !== 'string' || METHODS.has(key) || !Object.prototype.hasOwnProperty.call(data(), key)) return undefined;
      return { value: data()[key], enumerable: true, configurable: true, writable: true };
    },
  });
  return facade;
}

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
    let destroyed = false;
    let facade: ExpressSession | undefined;
    // Is the session still the app's? (`req.session = null`, a bogus sessionID, or destroy() say no.)
    const unsetByApp = (): boolean => req.session !== facade && !destroyed;
    const active = (): boolean => !unsetByApp() && typeof req.sessionID === 'string';
    const eng = engine;
    hookResponse(res, {
      async headers() {
        if (!facade || !active()) return { setCookie: [], vary: false, cacheControl: false };
        return eng.cookieHeaders(current);
      },
      async persist() {
        if (!facade) return;
        if (unsetByApp()) {
          if (unset === 'destroy') {
            destroyed = true;
            await current.destroy();
          }
          return;
        }
        if (typeof req.sessionID !== 'string') return;
        await eng.persist(current);
      },
      idle() {
        if (!facade) return true;
        if (unsetByApp()) return unset !== 'destroy';
        return typeof req.sessionID !== 'string' || !eng.hasWork(current);
      },
      fail(error, headersSent) {
        // Store errors reach the app's error handler, as with express-session; before the
        // headers went out this replaces the response instead of following it.
        if (headersSent) setImmediate(next, error);
        else next(error);
      },
    });
    current.load().then(
      () => {
        facade = createFacade(req, current, () => {
          destroyed = true;
        });
        req.session = facade;
        req.sessionID = current.id;
        handles.set(req, current);
        next();
      },
      (error: unknown) => next(error),
    );
  };
  return Object.assign(middleware, { engine: configured });
}

export default session;

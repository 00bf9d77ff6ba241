/**
 * Session options, their defaults, and validation at construction.
 * @module
 */
import { stringifySetCookie } from 'cookie';
import { SessionError } from './errors.ts';
import type { Store } from './store.ts';

/** A secret: a string (used as UTF-8) or raw bytes. */
export type Secret = string | Uint8Array;

/** `SameSite` values: `true` means Strict, `false` omits it, `'auto'` is None on secure requests, else Lax. */
export type SameSiteOption = boolean | 'lax' | 'strict' | 'none' | 'auto';

/** Options for the session cookie; units follow express-session (milliseconds). */
export interface CookieOptions {
  /** Lifetime in milliseconds; `null` or unset makes a browser-session cookie. @default null */
  maxAge?: number | null | undefined;
  /** An absolute expiry; prefer `maxAge`. When both are given, `maxAge` wins. @default unset */
  expires?: Date | null | undefined;
  /** `Domain` attribute; unset means host-only. @default unset */
  domain?: string | undefined;
  /** `Path` attribute. @default '/' */
  path?: string | undefined;
  /** `HttpOnly` attribute. @default true */
  httpOnly?: boolean | undefined;
  /** `Secure` attribute; `'auto'` follows the request (see `proxy`). @default 'auto' (false in the Express adapter) */
  secure?: boolean | 'auto' | undefined;
  /** `SameSite` attribute. @default 'lax' (unset in the Express adapter) */
  sameSite?: SameSiteOption | undefined;
  /** `Partitioned` attribute (CHIPS); needs `secure`. @default false */
  partitioned?: boolean | undefined;
  /** `Priority` attribute. @default unset */
  priority?: 'low' | 'medium' | 'high' | undefined;
}

/** Why a request got a fresh session instead of a stored one. */
export type FreshReason = 'absent' | 'bad-signature' | 'expired' | 'not-found' | 'store-error';

/** One decision the engine reports through `onEvent`; never carries a session ID or a secret. */
export interface SessionEvent {
  type: 'load' | 'create' | 'save' | 'merge' | 'touch' | 'regenerate' | 'destroy' | 're-sign' | 'skip-undeliverable' | 'error';
  /** For `create`: why the session is fresh. */
  reason?: FreshReason | undefined;
  /** For `error`: the error. */
  error?: unknown;
}

/** Options of `createSessionEngine`. Durations are in milliseconds. */
export interface SessionOptions {
  /** Secret(s) for signing: the first signs, every one verifies. Required. */
  secret: Secret | readonly Secret[];
  /** Where sessions are kept. Required by the core engine; adapters default to a memory store. */
  store: Store;
  /** Cookie name. @default 'sid' ('connect.sid' in the Express adapter) */
  name?: string | undefined;
  /** Cookie attributes. */
  cookie?: CookieOptions | undefined;
  /** Re-send the cookie (and slide its expiry) on every response of an existing session. @default false */
  rolling?: boolean | undefined;
  /** Write an existing session back to the store even when unchanged. @default false */
  resave?: boolean | undefined;
  /** Store and send a new session even when nothing was written to it. @default false */
  saveUninitialized?: boolean | undefined;
  /** Generates session IDs (sync or async) from the request context; must return at least 128 bits of randomness. @default 32 random bytes, base64url */
  genid?: ((context: unknown) => string | Promise<string>) | undefined;
  /** Trust `X-Forwarded-Proto`: `true` trusts it, `false` trusts only the connection, unset uses the host's notion. @default unset */
  proxy?: boolean | undefined;
  /** End a session after this long without a request (ms); `null` disables. @default 1_800_000 (30 min; unset in the Express adapter) */
  idleTimeout?: number | null | undefined;
  /** End a session this long after it was created, whatever the activity (ms); `null` disables. @default 43_200_000 (12 h; unset in the Express adapter) */
  absoluteTimeout?: number | null | undefined;
  /** Store TTL for records with no other expiry (browser-session cookie and no timeouts), in ms. @default 86_400_000 (1 day) */
  fallbackTtl?: number | undefined;
  /**
   * An unchanged session refreshes its store expiry at most this often (ms), so read-only traffic
   * does not write on every request; the idle timeout may then end a session up to this much
   * early. 0 touches on every request, as express-session does. @default 60_000 (0 in websession/express)
   */
  touchAfter?: number | undefined;
  /** A store call that takes longer than this fails with `ERR_STORE` (ms); 0 disables. @default 5000 */
  storeTimeout?: number | undefined;
  /** What a failed store read does: throw (`'fail'`), or continue with an anonymous session that is never saved (`'anonymous'`). @default 'fail' */
  onStoreError?: 'fail' | 'anonymous' | undefined;
  /** Send the cookie again when only its settings (e.g. `maxAge`) changed. @default true (false in the Express adapter) */
  resendOnCookieChange?: boolean | undefined;
  /** Receives every decision the engine makes; for logs and metrics. @default unset */
  onEvent?: ((event: SessionEvent) => void) | undefined;
  /**
   * A synchronous HMAC-SHA256 to sign and verify with instead of Web Crypto, for hosts that have
   * a faster one (`nodeHmac` from `websession/node`; the Express and node adapters use it by
   * default). Same wire format, same keys. @default unset (Web Crypto's `crypto.subtle`)
   */
  hmac?: HmacSha256 | undefined;
}

/** A synchronous HMAC-SHA256 of `data` (UTF-8) under `secret`, as 32 bytes. */
export type HmacSha256 = (secret: Secret, data: string) => Uint8Array;

/** Options after defaults and validation. */
export interface ResolvedOptions {
  secrets: readonly Secret[];
  store: Store;
  name: string;
  cookie: Required<Pick<CookieOptions, 'path' | 'httpOnly' | 'secure' | 'sameSite' | 'partitioned'>> &
    Pick<CookieOptions, 'domain' | 'priority'> & { maxAge: number | null; expires: Date | null };
  rolling: boolean;
  resave: boolean;
  saveUninitialized: boolean;
  genid: ((context: unknown) => string | Promise<string>) | undefined;
  proxy: boolean | undefined;
  idleTimeout: number | undefined;
  absoluteTimeout: number | undefined;
  fallbackTtl: number;
  storeTimeout: number;
  touchAfter: number;
  onStoreError: 'fail' | 'anonymous';
  resendOnCookieChange: boolean;
  onEvent: ((event: SessionEvent) => void) | undefined;
  hmac: HmacSha256 | undefined;
}

const SAME_SITE = new Set<unknown>([true, false, 'lax', 'strict', 'none', 'auto', undefined]);
const PRIORITY = new Set<unknown>(['low', 'medium', 'high', undefined]);
let warnedShortSecret = false;

function fail(option: string, problem: string): never {
  throw new SessionError('ERR_CONFIG', `websession: option ${option} ${problem}`);
}

function duration(option: string, value: unknown, fallback: number | null | undefined): number | undefined {
  if (value === undefined) return fallback ?? undefined;
  if (value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(option, `must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

function resolveSecrets(secret: unknown): Secret[] {
  const list = Array.isArray(secret) ? secret : secret === undefined || secret === null ? [] : [secret];
  if (list.length === 0) fail('secret', 'is required (a string, bytes, or a non-empty array of them)');
  return list.map((s, i) => {
    const where = Array.isArray(secret) ? `secret[${i}]` : 'secret';
    if (typeof s === 'string') {
      if (s.length === 0) fail(where, 'must not be empty');
      // Short secrets are guessable offline from one signed cookie; warn but accept, as express-session does.
      if (s.length < 32 && !warnedShortSecret) {
        warnedShortSecret = true;
        console.warn(`websession: ${where} is shorter than 32 characters; use a long random secret in production`);
      }
      return s;
    }
    if (ArrayBuffer.isView(s)) {
      // Web Crypto refuses a zero-length HMAC key, which would fail every request instead of now.
      if (s.byteLength === 0) fail(where, 'must not be empty');
      return new Uint8Array(s.buffer, s.byteOffset, s.byteLength);
    }
    return fail(where, 'must be a string or bytes');
  });
}

/** Resolves and validates cookie options (also used per request for the Express adapter's function form). */
export function resolveCookie(name: string, input: CookieOptions | undefined, defaults: CookieOptions): ResolvedOptions['cookie'] {
  if (input !== undefined && (input === null || typeof input !== 'object')) fail('cookie', 'must be an object');
  const c = { ...defaults, ...input };
  if (!SAME_SITE.has(c.sameSite)) fail('cookie.sameSite', `must be true, false, 'lax', 'strict', 'none' or 'auto', got ${String(c.sameSite)}`);
  if (!PRIORITY.has(c.priority)) fail('cookie.priority', `must be 'low', 'medium' or 'high', got ${String(c.priority)}`);
  if (c.secure !== undefined && c.secure !== 'auto' && typeof c.secure !== 'boolean') fail('cookie.secure', "must be a boolean or 'auto'");
  let maxAge: number | null = null;
  if (c.maxAge !== undefined && c.maxAge !== null) {
    // Finite and, added to now, within Date's range (±8.64e15 ms), or every request would fail building Expires.
    if (typeof c.maxAge !== 'number' || !Number.isFinite(c.maxAge) || Math.abs(c.maxAge) + Date.now() > 8.64e15) fail('cookie.maxAge', `must be a number of milliseconds, got ${String(c.maxAge)}`);
    maxAge = c.maxAge;
  }
  const expires = c.expires ?? null;
  if (expires !== null && (!(expires instanceof Date) || Number.isNaN(expires.getTime()))) fail('cookie.expires', 'must be a valid Date');
  // Attribute injection (CVE-2024-47764): refuse ';', CR, LF and anything else the cookie grammar forbids, now rather than per request.
  for (const key of ['domain', 'path'] as const) {
    const v = c[key];
    if (v !== undefined && (typeof v !== 'string' || /[;\r\n\0]/.test(v))) fail(`cookie.${key}`, `contains a character that would inject cookie attributes: ${JSON.stringify(v)}`);
  }
  try {
    stringifySetCookie(name, 'x', { domain: c.domain, path: c.path ?? '/', priority: c.priority });
  } catch (err) {
    const which = String((err as Error).message).includes('domain') ? 'cookie.domain' : String((err as Error).message).includes('path') ? 'cookie.path' : 'name';
    fail(which, `is not valid in a Set-Cookie header: ${(err as Error).message}`);
  }
  const secure = c.secure ?? false;
  // Browsers drop SameSite=None and Partitioned cookies without Secure, so such a setting could never work.
  if (c.sameSite === 'none' && secure === false) fail('cookie.sameSite', "'none' requires cookie.secure to be true or 'auto'");
  if (c.partitioned && secure === false) fail('cookie.partitioned', "requires cookie.secure to be true or 'auto'");
  // Cookie prefixes (RFC 6265bis 4.1.3): the browser rejects a prefixed cookie that breaks its rules.
  if (name.startsWith('__Secure-') && secure !== true) fail('cookie.secure', 'must be true for a cookie named __Secure-*');
  if (name.startsWith('__Host-')) {
    if (secure !== true) fail('cookie.secure', 'must be true for a cookie named __Host-*');
    if (c.domain !== undefined) fail('cookie.domain', 'must be unset for a cookie named __Host-*');
    if ((c.path ?? '/') !== '/') fail('cookie.path', "must be '/' for a cookie named __Host-*");
  }
  return {
    path: c.path ?? '/',
    httpOnly: c.httpOnly ?? true,
    secure,
    sameSite: c.sameSite ?? false,
    partitioned: c.partitioned ?? false,
    domain: c.domain,
    priority: c.priority,
    maxAge,
    expires: maxAge === null ? expires : null,
  };
}

/** The core engine's defaults (secure-leaning; the Express adapter passes express-session's own). */
export const CORE_DEFAULTS: Readonly<Partial<SessionOptions>> = {
  name: 'sid',
  cookie: { path: '/', httpOnly: true, secure: 'auto', sameSite: 'lax' },
  idleTimeout: 30 * 60_000,
  absoluteTimeout: 12 * 3_600_000,
};

/** Applies defaults and validates; throws `SessionError('ERR_CONFIG')` naming the bad option. */
export function resolveOptions(options: SessionOptions, defaults: Partial<SessionOptions> = CORE_DEFAULTS): ResolvedOptions {
  if (options === null || typeof options !== 'object') fail('options', 'must be an object');
  const secrets = resolveSecrets(options.secret);
  const store = options.store;
  if (!store || typeof store.get !== 'function' || typeof store.set !== 'function' || typeof store.destroy !== 'function') {
    fail('store', 'is required and must have get, set and destroy (for example createMemoryStore())');
  }
  const name = options.name ?? defaults.name ?? 'sid';
  if (typeof name !== 'string' || !/^[\u0021-\u003A\u003C\u003E-\u007E]+$/.test(name)) fail('name', `is not a valid cookie name: ${JSON.stringify(name)}`);
  const genid = options.genid;
  if (genid !== undefined && typeof genid !== 'function') fail('genid', 'must be a function');
  if (options.proxy !== undefined && typeof options.proxy !== 'boolean') fail('proxy', 'must be a boolean');
  const onStoreError = options.onStoreError ?? 'fail';
  if (onStoreError !== 'fail' && onStoreError !== 'anonymous') fail('onStoreError', "must be 'fail' or 'anonymous'");
  if (options.hmac !== undefined && typeof options.hmac !== 'function') fail('hmac', 'must be a function (secret, data) => Uint8Array');
  const storeTimeout = options.storeTimeout ?? 5000;
  if (typeof storeTimeout !== 'number' || !(storeTimeout >= 0)) fail('storeTimeout', 'must be a number of milliseconds (0 disables)');
  return {
    secrets,
    store,
    name,
    cookie: resolveCookie(name, options.cookie, defaults.cookie ?? {}),
    rolling: Boolean(options.rolling ?? defaults.rolling ?? false),
    resave: Boolean(options.resave ?? defaults.resave ?? false),
    saveUninitialized: Boolean(options.saveUninitialized ?? defaults.saveUninitialized ?? false),
    genid,
    proxy: options.proxy ?? defaults.proxy,
    idleTimeout: duration('idleTimeout', options.idleTimeout, defaults.idleTimeout),
    absoluteTimeout: duration('absoluteTimeout', options.absoluteTimeout, defaults.absoluteTimeout),
    fallbackTtl: duration('fallbackTtl', options.fallbackTtl, 86_400_000) ?? 86_400_000,
    storeTimeout,
    // A write budget for read-only traffic: at most one touch a minute per session (Workers KV
    // allows one write per second per key and bills each). Express keeps express-session's 0.
    touchAfter: options.touchAfter === 0 ? 0 : (duration('touchAfter', options.touchAfter, defaults.touchAfter ?? 60_000) ?? 0),
    onStoreError,
    resendOnCookieChange: options.resendOnCookieChange ?? defaults.resendOnCookieChange ?? true,
    onEvent: options.onEvent,
    hmac: options.hmac,
  };
}

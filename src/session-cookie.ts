/**
 * The session's cookie settings, with express-session's `Cookie` semantics:
 * `maxAge` is the time remaining in milliseconds, `expires` a Date, and `originalMaxAge`
 * the configured lifetime.
 * @module
 */
import type { StoredCookie } from './store.ts';

// The `cookie` package's grammars for Path and Domain: a stored attribute outside them would
// make every Set-Cookie of that session throw.
const PATH = /^[\u0020-\u003A\u003D-\u007E]*$/;
const DOMAIN = /^([.]?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const SAME_SITE = /^(lax|strict|none)$/i;
const PRIORITY = /^(low|medium|high)$/i;

/**
 * Whether a stored cookie can be served: each attribute has a type and value Set-Cookie
 * accepts, and `originalMaxAge` keeps every expiry inside Date's range. A record failing this
 * is corrupt (no session) rather than a session whose every response would fail.
 */
export function isUsableStoredCookie(c: StoredCookie, now: number = Date.now()): boolean {
  const max = c.originalMaxAge;
  if (max !== null && max !== undefined && (typeof max !== 'number' || !(Math.abs(max) + now <= 8.64e15))) return false;
  // An expiry that cannot be read would silently turn the cookie into a browser-session one.
  const expires = c.expires;
  if (expires !== null && expires !== undefined && (!(typeof expires === 'string' || typeof expires === 'number' || expires instanceof Date) || Number.isNaN(new Date(expires).getTime()))) return false;
  for (const flag of [c.httpOnly, c.secure, c.partitioned]) if (flag !== null && flag !== undefined && typeof flag !== 'boolean') return false;
  if (c.path !== null && c.path !== undefined && (typeof c.path !== 'string' || !PATH.test(c.path))) return false;
  if (c.domain !== null && c.domain !== undefined && (typeof c.domain !== 'string' || (c.domain !== '' && !DOMAIN.test(c.domain)))) return false;
  const sameSite = c.sameSite;
  if (sameSite !== null && sameSite !== undefined && typeof sameSite !== 'boolean' && (typeof sameSite !== 'string' || !SAME_SITE.test(sameSite))) return false;
  if (c.priority !== null && c.priority !== undefined && (typeof c.priority !== 'string' || !PRIORITY.test(c.priority))) return false;
  return true;
}

/** The cookie of one session; changing it changes the next Set-Cookie. */
export class SessionCookie {
  /** The configured lifetime in ms, or `null` for a browser-session cookie. */
  originalMaxAge: number | null;
  /** `Path` attribute. */
  path: string;
  /** `HttpOnly` attribute. */
  httpOnly: boolean;
  /** `Secure` attribute (already resolved from `'auto'`). */
  secure: boolean | undefined;
  /** `Domain` attribute. */
  domain: string | undefined;
  /** `SameSite` attribute (already resolved from `'auto'`). */
  sameSite: boolean | 'lax' | 'strict' | 'none' | undefined;
  /** `Partitioned` attribute. */
  partitioned: boolean | undefined;
  /** `Priority` attribute. */
  priority: 'low' | 'medium' | 'high' | undefined;
  #expires: Date | null = null;
  /** Set when the app changed `maxAge` or `expires` during this request. */
  expiryChanged = false;

  /** Builds a cookie from stored or configured settings. */
  constructor(settings: StoredCookie, now: number = Date.now()) {
    this.path = settings.path ?? '/';
    this.httpOnly = settings.httpOnly ?? true;
    this.secure = settings.secure;
    this.domain = settings.domain;
    this.sameSite = settings.sameSite;
    this.partitioned = settings.partitioned;
    this.priority = settings.priority;
    const expires = settings.expires;
    this.#expires = expires ? new Date(expires) : null;
    if (this.#expires && Number.isNaN(this.#expires.getTime())) this.#expires = null;
    this.originalMaxAge = typeof settings.originalMaxAge === 'number' ? settings.originalMaxAge : this.#expires ? this.#expires.getTime() - now : null;
  }

  /** When the cookie expires, or `null` for a browser-session cookie. Setting it also resets `originalMaxAge`. */
  get expires(): Date | null {
    return this.#expires;
  }
  set expires(date: Date | null) {
    this.#expires = date;
    this.originalMaxAge = this.maxAge;
    this.expiryChanged = true;
  }

  /** Milliseconds until expiry (may be negative), or `null`. Setting it moves `expires` to now + ms. */
  get maxAge(): number | null {
    return this.#expires ? this.#expires.getTime() - Date.now() : null;
  }
  set maxAge(ms: number | null) {
    if (ms !== null && ms !== undefined && typeof ms !== 'number') throw new TypeError('maxAge must be a number or null');
    this.expires = typeof ms === 'number' ? new Date(Date.now() + ms) : null;
  }

  /** Slides the expiry to now + `originalMaxAge` (no-op for browser-session cookies). */
  resetMaxAge(now: number = Date.now()): void {
    if (this.originalMaxAge !== null) this.#expires = new Date(now + this.originalMaxAge);
  }

  /** The attributes that decide whether a re-send is needed, as one comparable string. */
  attributeKey(): string {
    return `${this.path}|${this.httpOnly}|${this.secure}|${this.domain}|${this.sameSite}|${this.partitioned}|${this.priority}`;
  }

  /** The stored form, as express-session writes it. */
  toJSON(): StoredCookie {
    return {
      originalMaxAge: this.originalMaxAge,
      partitioned: this.partitioned,
      priority: this.priority,
      expires: this.#expires ? this.#expires.toISOString() : null,
      secure: this.secure,
      httpOnly: this.httpOnly,
      domain: this.domain,
      path: this.path,
      sameSite: this.sameSite,
    };
  }
}

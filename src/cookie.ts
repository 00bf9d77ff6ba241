/**
 * Reading the session cookie out of a Cookie header and writing Set-Cookie values,
 * on the `cookie` package.
 * @module
 */
import { parseCookie, stringifySetCookie } from 'cookie';

/** Headers longer than this are not searched for the session cookie (bytes of UTF-16). */
export const MAX_COOKIE_HEADER: number = 32 * 1024;
/** At most this many same-name cookies are tried, so duplicates cannot multiply HMAC work. */
export const MAX_CANDIDATES: number = 4;

/** Where a cookie pair ends: `;` within a line, `, ` where Fetch joined two Cookie lines. */
const PAIR_END = /;|, /;

/** The value of a hexadecimal digit's character code, or -1. */
function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/**
 * Percent-decodes a cookie value with the result of `decodeURIComponent`, keeping a malformed
 * value as it is (as the `cookie` package does). Escapes of ASCII characters are decoded here:
 * a signed session value (`s%3A`, and `%2B` or `%2F` in most signatures) then needs no call
 * into V8's URI decoder, which cost about 2,800 instructions per returning visitor
 * (bench/README.md, session 14). Anything else goes to `decodeURIComponent`.
 */
export function decodeCookieValue(value: string): string {
  let at = value.indexOf('%');
  if (at < 0) return value;
  let decoded = '';
  let from = 0;
  do {
    const high = hexValue(value.charCodeAt(at + 1));
    const low = hexValue(value.charCodeAt(at + 2));
    // Malformed, or the first byte of a multi-byte UTF-8 sequence (0x80 and above).
    if (high < 0 || low < 0 || high > 7) return decodeSlowly(value);
    decoded += value.slice(from, at) + String.fromCharCode(high * 16 + low);
    from = at + 3;
    at = value.indexOf('%', from);
  } while (at >= 0);
  return decoded + value.slice(from);
}

function decodeSlowly(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** What the `cookie` package is given to decode values with: nothing, the values are kept as sent. */
const AS_SENT = { decode: (value: string): string => value };

/** A value as {@link readRawCookieValues} returns it, percent-decoded and unquoted as express-session does. */
export function cookieValueOf(raw: string): string {
  return unquote(decodeCookieValue(raw));
}

/** {@link readRawCookieValues}, each value decoded by {@link cookieValueOf}. */
export function readCookieValues(header: string | null | undefined, name: string): string[] {
  return readRawCookieValues(header, name).map(cookieValueOf);
}

/**
 * Returns the values of every cookie called `name`, in header order (at most
 * {@link MAX_CANDIDATES}), as sent (only trimmed): {@link cookieValueOf} decodes one, and the
 * session's cookie verifier keys its memo by them. Names compare exactly and are never decoded.
 * Never throws.
 */
export function readRawCookieValues(header: string | null | undefined, name: string): string[] {
  if (typeof header !== 'string' || header.length > MAX_COOKIE_HEADER) return [];
  const first = header.indexOf(name);
  if (first < 0) return [];
  const values: string[] = [];
  // Fast path: the name occurs once on one header line, so the package's first-wins parse is exact.
  if (header.indexOf(name, first + name.length) < 0 && !header.includes(', ')) {
    const value = parseCookie(header, AS_SENT)[name];
    if (value !== undefined) values.push(value);
    return values;
  }
  // Duplicates (cookie tossing, stale parent-domain cookies): keep every occurrence so the
  // first one that verifies can win, instead of the first one listed. Pairs end at `;` and at
  // `, `: Fetch `Headers` join repeated Cookie lines with `, ` (Deno.serve over HTTP/2, whose
  // browsers may send each cookie on its own line), which would otherwise glue the next line
  // onto the session cookie's value and log the visitor out. Cookie tossing: a sibling subdomain
  // that hides `, sid=...` in another cookie's value gains no place in this list that a cookie
  // of its own with a longer Path would not give it (`__Host-` names shut out both).
  for (const pair of header.split(PAIR_END)) {
    if (pair.indexOf(name) < 0) continue;
    const value = parseCookie(pair, AS_SENT)[name];
    if (value === undefined) continue;
    values.push(value);
    if (values.length >= MAX_CANDIDATES) break;
  }
  return values;
}

function unquote(value: string): string {
  return value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22
    ? value.slice(1, -1)
    : value;
}

/** The attributes of one Set-Cookie value, already resolved for this response. */
export interface SetCookieAttributes {
  expires?: Date | null | undefined;
  domain?: string | undefined;
  path?: string | undefined;
  httpOnly?: boolean | undefined;
  secure?: boolean | undefined;
  sameSite?: boolean | 'lax' | 'strict' | 'none' | undefined;
  partitioned?: boolean | undefined;
  priority?: 'low' | 'medium' | 'high' | undefined;
}

/** The last instant an HTTP-date can name (a four-digit year). */
const LAST_HTTP_DATE = Date.UTC(9999, 11, 31, 23, 59, 59);

/**
 * `Expires` must be an HTTP-date with a four-digit year (RFC 6265 5.1.1): a stored record with an
 * absurd maxAge must not produce a header outside the cookie grammar (year "-0001"). An instant
 * before 1970 is "already expired" and becomes the epoch; one past year 9999 is capped.
 */
function httpDate(date: Date): Date {
  const t = date.getTime();
  return t < 0 ? new Date(0) : t > LAST_HTTP_DATE ? new Date(LAST_HTTP_DATE) : date;
}

/**
 * Serialises a Set-Cookie value. With an expiry, both `Expires` and an agreeing `Max-Age`
 * (whole seconds, never negative) are written.
 */
export function serializeCookie(name: string, value: string, attrs: SetCookieAttributes, now: number): string {
  const expires = attrs.expires ? httpDate(attrs.expires) : undefined;
  return stringifySetCookie({
    name,
    value,
    expires,
    maxAge: expires ? Math.max(0, Math.floor((expires.getTime() - now) / 1000)) : undefined,
    domain: attrs.domain,
    path: attrs.path,
    httpOnly: attrs.httpOnly,
    secure: attrs.secure,
    partitioned: attrs.partitioned,
    priority: attrs.priority,
    sameSite: attrs.sameSite,
  });
}

/**
 * A Set-Cookie value that deletes the cookie. It mirrors Domain, Path, Secure, SameSite and
 * Partitioned, since browsers ignore a deletion whose attributes do not match the cookie.
 */
export function serializeClearCookie(name: string, attrs: SetCookieAttributes): string {
  return stringifySetCookie({ ...attrs, name, value: '', expires: new Date(0), maxAge: 0 });
}

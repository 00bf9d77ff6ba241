/**
 * The commit decision as pure functions: given what happened to a session during one
 * request and the options, what goes to the store and whether Set-Cookie is sent.
 * These reproduce express-session's results (its option matrix), plus the deliberate
 * fixes of the architecture page, which are marked where they apply.
 * @module
 */

/** What happened to the session during the request. */
export interface CommitState {
  /** The request carried no verified cookie for this ID (new visitor, unknown ID, or regenerated). */
  isNew: boolean;
  /** The data (or the ID) differs from what was loaded or created. */
  modified: boolean;
  /** The current data is what the store already holds (loaded with `resave: false`, or saved explicitly and unchanged since). */
  saved: boolean;
  /** The session was saved explicitly during this request. */
  explicitlySaved: boolean;
  /** The session was destroyed during this request. */
  destroyed: boolean;
  /** The cookie has an expiry (not a browser-session cookie). */
  hasExpiry: boolean;
  /** The app changed the cookie's expiry or attributes. */
  cookieChanged: boolean;
  /** The cookie verified only under an older secret. */
  signedWithOldSecret: boolean;
  /** The request carried a verified cookie (something a clearing Set-Cookie would remove). */
  hadCookie: boolean;
  /** The cookie can reach the browser: not `Secure` on a request that is not secure. */
  deliverable: boolean;
  /** The store implements `touch`. */
  storeCanTouch: boolean;
  /** Milliseconds since the record was last written or touched. @default 0 */
  sinceLastWrite?: number | undefined;
  /** The shortest lifetime that activity slides (cookie `maxAge`, idle timeout), in ms; unset when none. */
  slidingLifetime?: number | undefined;
}

/** The options the decision depends on. */
export interface CommitPolicy {
  resave: boolean;
  saveUninitialized: boolean;
  rolling: boolean;
  resendOnCookieChange: boolean;
  /** An idle timeout is enforced from the record's last-seen time. @default false */
  idleTimeout?: boolean | undefined;
  /** An unchanged session is touched at most this often (ms); 0 touches on every request. @default 0 */
  touchAfter?: number | undefined;
}

/** What to do with the store at the end of the request. */
export type StoreAction = 'set' | 'touch' | 'none';
/** What to do with the cookie. */
export type CookieAction = 'set' | 'clear' | 'none';

/** Decides the store operation at the end of a request. */
export function decideStoreAction(s: CommitState, p: CommitPolicy): StoreAction {
  if (s.destroyed) return 'none';
  // Fix 3: a new session whose cookie cannot be delivered would only be an orphan record.
  if (s.isNew && !s.deliverable) return 'none';
  const shouldSave = s.isNew && !p.saveUninitialized && !s.explicitlySaved ? s.modified : !s.saved;
  if (shouldSave) return 'set';
  if (s.isNew) return 'none';
  // Write budget: an unchanged session refreshes its expiry at most once per touchAfter, and at
  // least once per tenth of its sliding lifetime, so activity never lets it lapse more than 10%
  // early (a 60 s maxAge is touched every 6 s). Rolling cookies slide on every response, so their
  // record does too; a cookie the app changed (touch(), a new maxAge) is always recorded.
  if (p.touchAfter && !p.rolling && !s.cookieChanged) {
    const every = Math.min(p.touchAfter, (s.slidingLifetime ?? Infinity) / 10);
    if ((s.sinceLastWrite ?? 0) < every) return 'none';
  }
  if (s.storeCanTouch) return 'touch';
  // A store without touch cannot record activity: with an idle timeout, rewrite the record,
  // or an active but read-only session would expire after idleTimeout.
  return p.idleTimeout ? 'set' : 'none';
}

/** Decides whether Set-Cookie carries the session, clears it, or is not sent. */
export function decideCookieAction(s: CommitState, p: CommitPolicy): CookieAction {
  // Fix 1: a destroyed session's cookie is expired in the browser, not left behind.
  if (s.destroyed) return s.hadCookie ? 'clear' : 'none';
  if (!s.deliverable) return 'none';
  if (s.isNew) return p.saveUninitialized || s.modified ? 'set' : 'none';
  if (p.rolling || (s.hasExpiry && s.modified)) return 'set';
  // Fix 5: a cookie signed under an older secret is re-signed with the first one.
  if (s.signedWithOldSecret) return 'set';
  if (p.resendOnCookieChange && s.cookieChanged) return 'set';
  return 'none';
}

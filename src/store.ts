/**
 * The store contract: what a session store implements and declares. Types, the record shape
 * check, and the engine-internal marker of a synchronous read.
 * @module
 */

/** The cookie settings kept with a record, in express-session's stored layout. */
export interface StoredCookie {
  /** The configured lifetime in milliseconds, or `null` for a browser-session cookie. */
  originalMaxAge: number | null;
  /** When the cookie expires, as an ISO string (a `Date` is accepted on read). */
  expires?: string | Date | null | undefined;
  path?: string | undefined;
  httpOnly?: boolean | undefined;
  secure?: boolean | undefined;
  domain?: string | undefined;
  sameSite?: boolean | 'lax' | 'strict' | 'none' | undefined;
  partitioned?: boolean | undefined;
  priority?: 'low' | 'medium' | 'high' | undefined;
}

/** Engine bookkeeping kept under the record's one reserved key, `_ws`. */
export interface RecordMeta {
  /** Created at, epoch milliseconds. */
  c: number;
  /** Last seen (loaded and committed) at, epoch milliseconds. */
  a: number;
  /** Version, incremented on every write; used by compare-and-set stores. */
  v: number;
  /** The user key the app attached, for per-user listing. */
  u?: string | undefined;
  /** Flash messages that live until read. */
  f?: Record<string, unknown> | undefined;
}

/**
 * A stored session: the session data plus a `cookie` object, exactly as express-session
 * stores it, and the engine's metadata under `_ws`.
 */
export interface SessionRecord {
  cookie: StoredCookie;
  _ws?: RecordMeta | undefined;
  [key: string]: unknown;
}

/**
 * A value that a JSON round trip gives back unchanged (`Object.is`): a string, a boolean, null, or
 * a finite number other than `-0`.
 */
export function isJsonPrimitive(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'boolean' || v === null || (typeof v === 'number' && Number.isFinite(v) && !Object.is(v, -0));
}

/** True for a stored value shaped like a record: an object with a `cookie` object (anything else is corrupt). */
export function isRecord(value: unknown): value is SessionRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as SessionRecord).cookie === 'object' && (value as SessionRecord).cookie !== null && !Array.isArray((value as SessionRecord).cookie);
}

/** What a store can do, declared as data so the engine and the docs can rely on it. */
export interface StoreCapabilities {
  /** The backend expires keys by itself (the engine still checks expiry on read). */
  readonly nativeTtl: boolean;
  /** Whether a write is visible to every later read (`strong`) or only eventually. */
  readonly consistency: 'strong' | 'eventual';
  /** `set` honours `ifVersion` and `onlyIfExists` atomically. */
  readonly compareAndSet: boolean;
  /** The store can list sessions by the user key (`listByUser`). */
  readonly listing: boolean;
  /**
   * `touch` extends only the TTL and leaves the stored record as written (Redis `PEXPIRE`,
   * express-session stores), so the record's own expiry timestamps can lag behind. The engine
   * then trusts the store's TTL for the sliding expiry and checks only the absolute timeout.
   * @default false
   */
  readonly touchKeepsRecord?: boolean | undefined;
  /**
   * The store derives its TTL from the record's `cookie.expires` (express-session stores) rather
   * than from the `ttlMs` it is given; an idle timeout is then enforced from the record, which
   * the engine rewrites instead of touching. @default false
   */
  readonly ttlFollowsCookie?: boolean | undefined;
}

/** Conditions on a write; stores without compare-and-set ignore them (last write wins). */
export interface SetConditions {
  /** Write only if a record exists: an end-of-request save never resurrects a destroyed session. */
  onlyIfExists?: boolean | undefined;
  /** Write only if the stored record still has this version. */
  ifVersion?: number | undefined;
}

/** One session in a per-user listing. */
export interface ListedSession {
  id: string;
  record: SessionRecord;
}

/**
 * A promise-based session store. Errors are reported by rejecting; the engine wraps them
 * as `SessionError` with code `ERR_STORE`.
 */
export interface Store {
  /** What the store guarantees. */
  readonly capabilities: StoreCapabilities;
  /** Reads a record; resolves `undefined` when there is none (or it expired). */
  get(id: string): Promise<SessionRecord | undefined>;
  /**
   * Writes a record that expires after `ttlMs` milliseconds. Resolves `false` when a
   * condition failed and nothing was written (compare-and-set stores only).
   */
  set(id: string, record: SessionRecord, ttlMs: number, conditions?: SetConditions): Promise<boolean | void>;
  /** Deletes a record; deleting a missing record is not an error. */
  destroy(id: string): Promise<void>;
  /** Extends a record's lifetime to `ttlMs` without rewriting its data; never creates one. */
  touch?(id: string, record: SessionRecord, ttlMs: number): Promise<void>;
  /** Lists the sessions of one user key (stores with `listing`). */
  listByUser?(userKey: string): Promise<ListedSession[]>;
  /** Closes timers and connections the store owns. */
  close?(): Promise<void> | void;
}

/**
 * Where an in-process store offers synchronous forms of its methods:
 * `store[SYNC] = { get, getNow, touch, touchNow, set, setNow }`, each with the store's own method.
 * The engine calls a synchronous form only while the store's method is still the one it stands
 * for, so a wrapper, proxy or test spy that replaces a method (for logging, metrics or failure
 * injection) is never bypassed. Internal: the package does not export it.
 */
export const SYNC: unique symbol = Symbol('websession.sync');

/** Synchronous forms of a store's `get`, `touch` and `set`, each with the method it stands for (see {@link SYNC}). */
export interface SyncForms {
  readonly get: Store['get'];
  getNow(id: string): SessionRecord | undefined;
  readonly touch?: Store['touch'];
  touchNow?(id: string, record: SessionRecord, ttlMs: number): void;
  readonly set?: Store['set'];
  setNow?(id: string, record: SessionRecord, ttlMs: number, conditions?: SetConditions): boolean;
}

/** The synchronous form of `store[method]`, if the store offers one and that method was not replaced. */
export function syncForm<M extends 'get' | 'touch' | 'set'>(store: Store, method: M): SyncForms[`${M}Now`] | undefined {
  const forms = (store as { [SYNC]?: SyncForms })[SYNC];
  return forms !== undefined && forms[method] !== undefined && forms[method] === store[method] ? forms[`${method}Now`] : undefined;
}

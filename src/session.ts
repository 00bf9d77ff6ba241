/**
 * The `Session` handle: typed data, the cookie, and the lifecycle methods. It loads itself
 * on first use, so a request that never touches its session costs no crypto and no store call.
 * @module
 */
import { SessionError } from './errors.ts';
import type { CommitState } from './commit.ts';
import type { FreshReason, ResolvedOptions, SessionEvent } from './options.ts';
import { isUsableStoredCookie, SessionCookie } from './session-cookie.ts';
import { isJsonPrimitive, isRecord, syncForm, type RecordMeta, type SessionRecord, type SetConditions, type StoredCookie } from './store.ts';
import type { Signer } from './signing.ts';
import { readRawCookieValues } from './cookie.ts';
import type { CookieVerifier } from './cookie-verifier.ts';
import { generateSessionId } from './id.ts';
import { isRecordExpired } from './expiry.ts';

/** Session data: a JSON-serialisable record. */
export type SessionData = Record<string, unknown>;

/** What the engine needs to know about a request; no `Request` object is required. */
export interface RequestFacts {
  /** The raw `Cookie` header, if any. */
  cookie?: string | null | undefined;
  /** The connection is TLS (or the host already decided the request is secure). */
  secure?: boolean | undefined;
  /** The `X-Forwarded-Proto` header, used only with `proxy: true`. */
  forwardedProto?: string | null | undefined;
  /** Passed to `genid` (the Express adapter passes `req`, fetch hosts the `Request`). */
  context?: unknown;
  /** Cookie settings for a session created by this request, replacing the engine's (already resolved). */
  cookieOptions?: ResolvedOptions['cookie'] | undefined;
}

/** Engine internals a session handle works with. */
export interface SessionContext {
  readonly options: ResolvedOptions;
  readonly signer: Signer;
  readonly verifier: CookieVerifier;
  call<T>(operation: string, run: () => Promise<T>): Promise<T>;
  emit(event: SessionEvent): void;
}

/** Options of `regenerate()`. */
export interface RegenerateOptions {
  /** Carry the data (and flash) over to the new ID. @default false */
  keepData?: boolean | undefined;
}

/** A request's session. Data methods load the session on first use. */
export interface Session<Data extends SessionData = SessionData> {
  /** Loads the session (verify the cookie, read the store) if not done yet; idempotent. */
  load(): Promise<this>;
  /** Whether `load()` has completed. */
  readonly loaded: boolean;
  /** The session ID; available after load. */
  readonly id: string;
  /** True when the request carried no usable session (see `freshReason`). */
  readonly isNew: boolean;
  /** Why the session is fresh, or `undefined` for a stored session. */
  readonly freshReason: FreshReason | undefined;
  /** The live data object; mutate it freely, changes are detected at commit. Available after load. */
  readonly data: Data;
  /** The cookie settings; available after load. */
  readonly cookie: SessionCookie;
  /** Epoch ms when the session was created. Available after load. */
  readonly createdAt: number;
  /** Reads a value. */
  get<K extends keyof Data & string>(key: K): Promise<Data[K] | undefined>;
  /** Whether a value is set. */
  has(key: keyof Data & string): Promise<boolean>;
  /** Sets a value; it must be JSON-serialisable. */
  set<K extends keyof Data & string>(key: K, value: Data[K]): Promise<void>;
  /** Removes a value. */
  delete(key: keyof Data & string): Promise<void>;
  /** Sets a flash value, readable once on a later request (or this one). */
  flash(key: string, value: unknown): Promise<void>;
  /** Reads and removes a flash value. */
  flash<T = unknown>(key: string): Promise<T | undefined>;
  /** Gives the session a new ID (do this on sign-in); the old record is deleted. */
  regenerate(options?: RegenerateOptions): Promise<void>;
  /** Deletes the session from the store; the response expires the cookie. */
  destroy(): Promise<void>;
  /** Re-reads the session from the store, dropping unsaved changes. */
  reload(): Promise<void>;
  /** Writes the session to the store now (the end of the request then skips it if unchanged). */
  save(): Promise<void>;
  /** Slides the cookie's expiry to now + its original max age. */
  touch(): void;
  /** Attaches a user key so the store can list this user's sessions. */
  setUser(userKey: string | undefined): Promise<void>;
}

const SAVED_AS_LOADED = Symbol('saved-as-loaded');
/** Bounds the replays of one save under contention (each round at least one writer wins). */
const MAX_MERGE_ATTEMPTS = 100;

/**
 * The prototype of every session data object: empty, frozen, itself without a prototype. With
 * nothing but it in the chain, keys like `__proto__` or `toString` are plain own data (prototype
 * pollution through session data is impossible), as with `Object.create(null)`, but V8 keeps the
 * object in fast mode: a null-prototype object is a dictionary, on which JSON.stringify and keyed
 * access ran about 1.7x slower (bench/README.md, session 15).
 */
const DATA_BASE: object = Object.freeze(Object.create(null) as object);

/** A new, empty session data object (see {@link DATA_BASE}). */
function newData(): SessionData {
  return Object.create(DATA_BASE) as SessionData;
}

/** Copies a record's data into a fresh data object, so keys like `__proto__` stay plain data. */
function dataOf(record: SessionRecord): SessionData {
  const data = newData();
  for (const key of Object.keys(record)) {
    if (key === 'cookie' || key === '_ws') continue;
    data[key] = record[key];
  }
  return data;
}

/** A record the engine can adopt: an object whose express-session `cookie` can be served; anything else is corrupt, so no session. */
function isUsable(record: unknown): record is SessionRecord {
  return isRecord(record) && isUsableStoredCookie(record.cookie);
}

/** The shortest of a cookie `maxAge` and an idle timeout (ms), or undefined when neither is set. */
function slidingLifetime(maxAge: number | null | undefined, idle: number | undefined): number | undefined {
  const cookie = typeof maxAge === 'number' && maxAge > 0 ? maxAge : undefined;
  return cookie === undefined ? idle : idle === undefined ? cookie : Math.min(cookie, idle);
}

/** JSON.stringify drops functions and symbols without a word: refuse them instead of losing them at save. */
function refuseNonData(_key: string, value: unknown): unknown {
  if (typeof value === 'function' || typeof value === 'symbol') throw new TypeError(`a ${typeof value} is not JSON data`);
  return value;
}

/**
 * The data's JSON, for finding changes. Data the app changed in place (through `data`, or
 * `req.session` on Express) may no longer serialise (a cycle, a BigInt): that is a
 * `SessionError('ERR_VALUE')`, which the adapters report like a store failure, instead of a
 * TypeError thrown from inside `res.end()`, where it left the request hanging.
 */
function serialise(data: SessionData): string {
  try {
    return JSON.stringify(data);
  } catch (err) {
    throw new SessionError('ERR_VALUE', `session data cannot be stored as JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Flat data as it was: its keys in JSON's order, and their values (JSON primitives only). */
interface FlatSnapshot {
  readonly keys: readonly string[];
  readonly values: readonly unknown[];
}

/** The snapshot of empty data (a new session). */
const EMPTY_SNAPSHOT: FlatSnapshot = Object.freeze({ keys: Object.freeze([]), values: Object.freeze([]) });

/**
 * The data as it is now, to find changes at commit: its keys and values when every value is a
 * JSON primitive (the usual session: IDs, names, counters), compared one by one without serialising
 * anything; else its JSON. Arrays, not an object: building an object key by key changes its
 * hidden class at every key, which cost more than the JSON it replaces (websession/express S3).
 */
function snapshotOf(data: SessionData): FlatSnapshot | string {
  const keys = Object.keys(data);
  const values: unknown[] = [];
  for (const key of keys) {
    const value = data[key];
    if (!isJsonPrimitive(value)) return serialise(data);
    values.push(value);
  }
  return { keys, values };
}

/** The data a snapshot holds, as a data object. */
function snapshotData(snapshot: FlatSnapshot | string): SessionData {
  if (typeof snapshot === 'string') return JSON.parse(snapshot) as SessionData;
  const data = newData();
  snapshot.keys.forEach((key, i) => (data[key] = snapshot.values[i]));
  return data;
}

/**
 * Whether `data` would serialise differently from `snapshot`. Against flat data: the same keys
 * in the same order (JSON's order) with equal values (`===` matches JSON here: `0` and `-0` both
 * write `0`, and other finite numbers write distinct text). A value that is not a JSON primitive
 * now (including `-0`) takes the JSON comparison.
 */
function changedSince(data: SessionData, snapshot: FlatSnapshot | string): boolean {
  if (typeof snapshot === 'string') return serialise(data) !== snapshot;
  const keys = Object.keys(data);
  for (const key of keys) if (!isJsonPrimitive(data[key])) return serialise(data) !== serialise(snapshotData(snapshot));
  const { keys: before, values } = snapshot;
  if (keys.length !== before.length) return true;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (key !== before[i] || data[key] !== values[i]) return true;
  }
  return false;
}

function checkSerialisable(key: string, value: unknown): void {
  try {
    JSON.stringify(value, refuseNonData);
  } catch (err) {
    throw new SessionError('ERR_VALUE', `session value ${JSON.stringify(key)} cannot be stored as JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** The engine's implementation of {@link Session}. Create it through the engine. */
export class SessionHandle<Data extends SessionData = SessionData> implements Session<Data> {
  readonly #ctx: SessionContext;
  #factsInput: RequestFacts | (() => RequestFacts);
  #factsValue: RequestFacts | undefined;
  #cookieValues: string[] | undefined;
  #loading: Promise<this> | undefined;
  #loaded = false;
  #id = '';
  #originalId = '';
  #cookieId: string | undefined;
  #fresh: FreshReason | undefined;
  #data: SessionData = newData();
  #cookie: SessionCookie | undefined;
  #meta: RecordMeta = { c: 0, a: 0, v: 0 };
  /** The data when first handed out or changed (see {@link snapshotOf}); undefined while nothing could have changed it. */
  #snapshot: FlatSnapshot | string | undefined;
  #savedHash: string | typeof SAVED_AS_LOADED | undefined;
  #savedId: string | undefined;
  #explicitlySaved = false;
  #destroyed = false;
  #flashChanged = false;
  /** The flash messages as loaded, to tell this request's flash changes from others'. */
  #flashBase: Record<string, unknown> | undefined;
  #metaChanged = false;
  #signedWithOldSecret = false;
  #cookieAttributes = '';
  #readOnly = false;
  /** The ID this request first wrote a record for. */
  #createdId: string | undefined;
  #touched = false;
  #cookieSent = false;
  /** Set by the engine when a conditional end-of-request write found no record. */
  lost = false;

  /** Use `engine.load()` instead. */
  constructor(ctx: SessionContext, facts: RequestFacts | (() => RequestFacts)) {
    this.#ctx = ctx;
    this.#factsInput = facts;
  }

  /** The request facts, read on first use: an untouched session never reads the request. */
  get #facts(): RequestFacts {
    if (this.#factsValue === undefined) {
      const input = this.#factsInput;
      this.#factsValue = typeof input === 'function' ? input() : input;
    }
    return this.#factsValue;
  }

  /** The request's values of the session cookie as sent (the verifier decodes them), parsed once however many load paths ask. */
  get #candidates(): string[] {
    this.#cookieValues ??= readRawCookieValues(this.#facts.cookie, this.#ctx.options.name);
    return this.#cookieValues;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  #need(what: string): void {
    if (!this.#loaded) throw new SessionError('ERR_STATE', `session.${what} is available after load: await session.load() first`);
  }

  get id(): string {
    this.#need('id');
    return this.#id;
  }
  get isNew(): boolean {
    this.#need('isNew');
    return this.#cookieId !== this.#id;
  }
  get freshReason(): FreshReason | undefined {
    return this.#fresh;
  }
  get data(): Data {
    this.#need('data');
    this.#snap();
    return this.#data as Data;
  }
  get cookie(): SessionCookie {
    this.#need('cookie');
    return this.#cookie!;
  }
  get createdAt(): number {
    this.#need('createdAt');
    return this.#meta.c;
  }

  /** Whether the request is secure, by the `proxy` rules of express-session. */
  get requestSecure(): boolean {
    if (this.#facts.secure === true) return true;
    // X-Forwarded-Proto is client-controlled unless a proxy overwrites it: trusted only with proxy: true.
    if (this.#ctx.options.proxy !== true) return false;
    const proto = this.#facts.forwardedProto;
    return typeof proto === 'string' && proto.split(',', 1)[0]!.trim().toLowerCase() === 'https';
  }

  load(): Promise<this> {
    this.#loading ??= this.#loadAtOnce() ? Promise.resolve(this) : this.#load();
    return this.#loading;
  }

  /**
   * The usual load without an await: one session cookie that the signer can check at once (a
   * value verified before, or a synchronous `hmac`), naming a live record in a store that reads
   * synchronously (the memory store). Anything else returns false having changed nothing, and
   * `#load` does the whole work (its reasons, events and clean-up stay in one place).
   */
  #loadAtOnce(): boolean {
    const { options, verifier } = this.#ctx;
    const read = syncForm(options.store, 'get');
    if (read === undefined) return false;
    const candidates = this.#candidates;
    if (candidates.length !== 1) return false;
    const verified = verifier.verifyNow(candidates[0]!);
    if (!verified) return false;
    let record: SessionRecord | undefined;
    try {
      record = read(verified.value);
    } catch {
      return false;
    }
    const now = Date.now();
    if (!isUsable(record) || this.#expired(record, now)) return false;
    this.#loadedFrom(verified, record, now);
    return true;
  }

  /** Becomes the stored session `record`, named by a cookie that `verified`. */
  #loadedFrom(verified: { value: string; secretIndex: number }, record: SessionRecord, now: number): void {
    this.#adopt(verified.value, record, now);
    this.#signedWithOldSecret = verified.secretIndex > 0;
    this.#loaded = true;
    this.#ctx.emit({ type: 'load' });
  }

  async #load(): Promise<this> {
    const { options, verifier } = this.#ctx;
    const candidates = this.#candidates;
    let reason: FreshReason = 'absent';
    for (const candidate of candidates) {
      // express-session's format, "s:" + signed ID: anything else never verifies.
      const verified = await verifier.verify(candidate);
      if (!verified) {
        if (reason === 'absent') reason = 'bad-signature';
        continue;
      }
      let record: SessionRecord | undefined;
      try {
        record = await this.#ctx.call('get', () => options.store.get(verified.value));
      } catch (err) {
        if (options.onStoreError === 'fail') throw err;
        this.#ctx.emit({ type: 'error', error: err });
        // Anonymous mode: this session never writes, so an outage cannot clobber the real one.
        this.#readOnly = true;
        reason = 'store-error';
        break;
      }
      const now = Date.now();
      if (!isUsable(record)) {
        reason = reason === 'expired' ? reason : 'not-found';
        continue;
      }
      if (this.#expired(record, now)) {
        // Fix 6: never trust the store to have expired it; drop it too (best effort).
        reason = 'expired';
        const id = verified.value;
        this.#ctx.call('destroy', () => options.store.destroy(id)).catch((error: unknown) => this.#ctx.emit({ type: 'error', error }));
        continue;
      }
      this.#loadedFrom(verified, record, now);
      return this;
    }
    await this.#create(reason);
    this.#loaded = true;
    return this;
  }

  #expired(record: SessionRecord, now: number): boolean {
    return isRecordExpired(record, now, this.#ctx.options);
  }

  #adopt(id: string, record: SessionRecord, now: number): void {
    const meta = record._ws;
    this.#id = id;
    this.#originalId = id;
    this.#cookieId = id;
    this.#fresh = undefined;
    this.#data = dataOf(record);
    this.#cookie = new SessionCookie(record.cookie, now);
    // Records written by express-session have no metadata: they start their clocks now.
    this.#meta =
      meta && typeof meta === 'object' && typeof meta.c === 'number'
        ? { c: meta.c, a: typeof meta.a === 'number' ? meta.a : now, v: typeof meta.v === 'number' ? meta.v : 0, u: meta.u, f: meta.f }
        : { c: now, a: now, v: 0 };
    this.#cookieAttributes = this.#cookie.attributeKey();
    this.#snapshot = undefined;
    this.#flashBase = this.#meta.f;
    this.#savedHash = this.#ctx.options.resave ? undefined : SAVED_AS_LOADED;
    this.#savedId = undefined;
    this.#flashChanged = false;
    this.#metaChanged = false;
  }

  /**
   * Engine hook: loads at once when that needs no await: the request carries no cookie of this
   * name and IDs come from the built-in generator, or `#loadAtOnce` applies. Returns whether the
   * session is loaded; otherwise nothing happens and `load()` does the work. @internal
   */
  loadSync(): boolean {
    if (this.#loading !== undefined) return this.#loaded;
    if (this.#loadAtOnce()) {
      this.#loading = Promise.resolve(this);
      return true;
    }
    if (this.#ctx.options.genid !== undefined) return false;
    if (this.#candidates.length > 0) return false;
    this.#startFresh(generateSessionId(), 'absent');
    this.#loaded = true;
    this.#loading = Promise.resolve(this);
    return true;
  }

  async #create(reason: FreshReason): Promise<void> {
    const { options } = this.#ctx;
    const genid = options.genid ?? generateSessionId;
    const id = await genid(this.#facts.context);
    if (typeof id !== 'string' || id.length === 0) throw new SessionError('ERR_CONFIG', 'websession: option genid must return a non-empty string');
    this.#startFresh(id, reason);
  }

  /** Becomes a new, empty session with this ID. */
  #startFresh(id: string, reason: FreshReason): void {
    const now = Date.now();
    this.#id = id;
    this.#originalId = id;
    this.#cookieId = undefined;
    this.#fresh = reason;
    this.#data = newData();
    this.#cookie = this.#newCookie(now);
    this.#meta = { c: now, a: now, v: 0 };
    this.#cookieAttributes = this.#cookie.attributeKey();
    this.#snapshot = EMPTY_SNAPSHOT;
    this.#savedHash = undefined;
    this.#savedId = undefined;
    this.#flashChanged = false;
    this.#metaChanged = false;
    this.#ctx.emit({ type: 'create', reason });
  }

  #newCookie(now: number): SessionCookie {
    const c = this.#facts.cookieOptions ?? this.#ctx.options.cookie;
    const secure = c.secure === 'auto' ? this.requestSecure : c.secure;
    const sameSite = c.sameSite === 'auto' ? (this.requestSecure ? 'none' : 'lax') : c.sameSite === false ? undefined : c.sameSite;
    const settings: StoredCookie = {
      originalMaxAge: c.maxAge,
      expires: c.maxAge !== null ? new Date(now + c.maxAge) : c.expires,
      path: c.path,
      httpOnly: c.httpOnly,
      secure: secure || undefined,
      domain: c.domain,
      sameSite,
      partitioned: c.partitioned || undefined,
      priority: c.priority,
    };
    return new SessionCookie(settings, now);
  }

  /** Records the data as it is now, before the app can mutate it, so changes can be found later. */
  #snap(): void {
    if (this.#snapshot === undefined) this.#snapshot = snapshotOf(this.#data);
  }

  #hash(): string {
    return this.#snapshot === undefined ? '' : serialise(this.#data);
  }

  #modified(): boolean {
    if (this.#id !== this.#originalId || this.#flashChanged || this.#metaChanged) return true;
    return this.#snapshot !== undefined && changedSince(this.#data, this.#snapshot);
  }

  #saved(modified: boolean = this.#modified()): boolean {
    const saved = this.#savedHash;
    if (saved === undefined) return false;
    if (saved === SAVED_AS_LOADED) return this.#id === this.#originalId && !modified;
    return this.#id === this.#savedId && !this.#flashChanged && !this.#metaChanged && this.#hash() === saved;
  }

  async get<K extends keyof Data & string>(key: K): Promise<Data[K] | undefined> {
    if (!this.#loaded) await this.load();
    return this.valueNow(key);
  }

  /**
   * Engine hook: one value of a loaded session, without an await. A primitive is handed out
   * without the snapshot that `data` takes (it cannot be changed in place); an object is
   * snapshotted first, as through `data`. @internal
   */
  valueNow<K extends keyof Data & string>(key: K): Data[K] | undefined {
    this.#need('data');
    const value = this.#data[key];
    // An object handed out may be mutated in place: compare at commit.
    if (value !== null && typeof value === 'object') this.#snap();
    return value as Data[K] | undefined;
  }

  async has(key: keyof Data & string): Promise<boolean> {
    if (!this.#loaded) await this.load();
    return Object.prototype.hasOwnProperty.call(this.#data, key);
  }

  async set<K extends keyof Data & string>(key: K, value: Data[K]): Promise<void> {
    if (key === 'cookie' || key === '_ws') throw new SessionError('ERR_VALUE', `session key ${JSON.stringify(key)} is reserved (the record keeps the cookie and the engine's metadata there)`);
    checkSerialisable(key, value);
    await this.load();
    this.#assertAlive('set');
    this.#snap();
    this.#data[key] = value;
  }

  async delete(key: keyof Data & string): Promise<void> {
    await this.load();
    this.#assertAlive('delete');
    this.#snap();
    delete this.#data[key];
  }

  flash(key: string, value: unknown): Promise<void>;
  flash<T = unknown>(key: string): Promise<T | undefined>;
  async flash(key: string, ...value: unknown[]): Promise<unknown> {
    await this.load();
    if (value.length > 0) {
      checkSerialisable(key, value[0]);
      this.#assertAlive('flash');
      this.#meta.f = { ...this.#meta.f, [key]: value[0] };
      this.#flashChanged = true;
      return undefined;
    }
    const flashes = this.#meta.f;
    if (!flashes || !Object.prototype.hasOwnProperty.call(flashes, key)) return undefined;
    const { [key]: read, ...rest } = flashes;
    this.#meta.f = Object.keys(rest).length > 0 ? rest : undefined;
    this.#flashChanged = true;
    return read;
  }

  #assertAlive(what: string): void {
    if (this.#destroyed) throw new SessionError('ERR_STATE', `session.${what}() after destroy(): regenerate() to start a new session`);
  }

  async regenerate(options?: RegenerateOptions): Promise<void> {
    await this.load();
    // The new ID could never reach the browser, and the old record would be gone: a silent logout.
    if (this.#cookieSent) throw new SessionError('ERR_HEADERS_SENT', 'session.regenerate() after the response headers were sent: the new session cookie could not be delivered');
    const { options: engineOptions } = this.#ctx;
    // The cookie's ID, and an ID already written by save() in this request (else it stays behind as an orphan).
    const oldIds = new Set([this.#cookieId, this.#savedId].filter((x): x is string => x !== undefined));
    const keep = options?.keepData === true;
    const data = keep ? this.#data : newData();
    const flashes = keep ? this.#meta.f : undefined;
    const user = keep ? this.#meta.u : undefined;
    const genid = engineOptions.genid ?? generateSessionId;
    const id = await genid(this.#facts.context);
    if (typeof id !== 'string' || id.length === 0) throw new SessionError('ERR_CONFIG', 'websession: option genid must return a non-empty string');
    // Session fixation: the ID an attacker may have planted stops working once the user signs in.
    for (const oldId of oldIds) await this.#ctx.call('destroy', () => engineOptions.store.destroy(oldId));
    const now = Date.now();
    this.#id = id;
    this.#data = data;
    this.#cookie = this.#newCookie(now);
    // Keeping the data keeps the clock: rotating the ID must not extend the absolute lifetime.
    this.#meta = { c: keep ? this.#meta.c : now, a: now, v: 0, u: user, f: flashes };
    this.#snapshot = undefined;
    this.#snap();
    this.#savedHash = undefined;
    this.#savedId = undefined;
    this.#destroyed = false;
    this.#readOnly = false;
    this.#signedWithOldSecret = false;
    this.#ctx.emit({ type: 'regenerate' });
  }

  async destroy(): Promise<void> {
    await this.load();
    if (this.#destroyed) return;
    const id = this.#id;
    if (this.#cookieId !== undefined || this.#savedHash !== undefined) {
      await this.#ctx.call('destroy', () => this.#ctx.options.store.destroy(id));
    }
    this.#destroyed = true;
    this.#ctx.emit({ type: 'destroy' });
  }

  async reload(): Promise<void> {
    await this.load();
    const id = this.#id;
    const record = await this.#ctx.call('get', () => this.#ctx.options.store.get(id));
    const now = Date.now();
    if (!isUsable(record) || this.#expired(record, now)) {
      throw new SessionError('ERR_NOT_FOUND', 'failed to load session');
    }
    const cookieId = this.#cookieId;
    const originalId = this.#originalId;
    this.#adopt(id, record, now);
    this.#cookieId = cookieId;
    this.#originalId = originalId;
  }

  async save(): Promise<void> {
    await this.load();
    this.#assertAlive('save');
    // After a store read failed ('anonymous' policy) a save could overwrite the real session.
    if (this.#readOnly) throw new SessionError('ERR_STATE', 'session.save() on a session opened after a store error; it is never saved');
    this.#snap();
    await this.#write(false);
    this.#explicitlySaved = true;
    this.#savedHash = this.#hash();
    this.#savedId = this.#id;
    this.#flashChanged = false;
    this.#metaChanged = false;
  }

  touch(): void {
    this.#need('touch');
    this.#cookie!.resetMaxAge();
    this.#touched = true;
  }

  /** Engine hook: the response headers are being sent, so the session cookie can no longer change. @internal */
  markCookieSent(): void {
    this.#cookieSent = true;
  }

  /** Engine hook: slides the cookie expiry once per request, as express-session does before sending it. @internal */
  touchOnce(): void {
    if (this.#touched) return;
    this.#cookie!.resetMaxAge();
    this.#touched = true;
  }

  async setUser(userKey: string | undefined): Promise<void> {
    await this.load();
    if (this.#meta.u === userKey) return;
    this.#meta.u = userKey;
    this.#metaChanged = true;
  }

  /** The record as stored: data, cookie, and metadata. */
  #record(now: number): SessionRecord {
    // Key order matters to the memory store: `cookie`, then `_ws` with `a` first, then the
    // data, so a touch can rewrite the front of the stored JSON without parsing the data.
    const meta: RecordMeta = { a: now, c: this.#meta.c, v: this.#meta.v + 1 };
    if (this.#meta.u !== undefined) meta.u = this.#meta.u;
    if (this.#meta.f !== undefined) meta.f = this.#meta.f;
    const record: SessionRecord = { cookie: this.#cookie!.toJSON(), _ws: meta };
    for (const key of Object.keys(this.#data)) {
      if (key === 'cookie' || key === '_ws') continue;
      // Plain assignment of '__proto__' would set the record's prototype and drop the value from the JSON.
      if (key === '__proto__') Object.defineProperty(record, key, { value: this.#data[key], enumerable: true, writable: true, configurable: true });
      else record[key] = this.#data[key];
    }
    return record;
  }

  /** Milliseconds the store should keep the record: until the earliest of cookie expiry, idle and absolute deadlines. */
  #ttl(now: number): number {
    const { idleTimeout, absoluteTimeout, fallbackTtl } = this.#ctx.options;
    let deadline = Infinity;
    const expires = this.#cookie!.expires;
    if (expires) deadline = expires.getTime();
    if (idleTimeout !== undefined) deadline = Math.min(deadline, now + idleTimeout);
    if (absoluteTimeout !== undefined) deadline = Math.min(deadline, this.#meta.c + absoluteTimeout);
    return deadline === Infinity ? fallbackTtl : Math.max(1, deadline - now);
  }

  async #write(endOfRequest: boolean): Promise<boolean> {
    const { store } = this.#ctx.options;
    const id = this.#id;
    const existing = this.#exists();
    const cas = store.capabilities?.compareAndSet === true;
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const record = this.#record(now);
      const conditions = this.#conditions();
      const written = await this.#ctx.call('set', () => store.set(id, record, this.#ttl(now), conditions));
      if (written === false && !existing) {
        throw new SessionError('ERR_STATE', 'session ID already in use (genid returned an ID that exists); nothing was overwritten');
      }
      if (written !== false) {
        this.#wrote(record, now);
        return true;
      }
      if (!cas || attempt >= MAX_MERGE_ATTEMPTS) break;
      // Another request wrote first: replay this request's own changes onto the latest record.
      const latest = await this.#ctx.call('get', () => store.get(id));
      if (!isUsable(latest) || this.#expired(latest, now)) break;
      this.#rebase(latest);
      this.#ctx.emit({ type: 'merge' });
    }
    if (!endOfRequest) throw new SessionError('ERR_NOT_FOUND', 'session was destroyed or changed elsewhere while this request ran; it was not saved');
    return false;
  }

  /**
   * One write at once, on a store that writes synchronously (the memory store); returns whether
   * it was written. Anything else (no such store, a failed condition, an error) writes nothing
   * and returns false: `#write` then does the work, merges and reports included.
   */
  #writeNow(): boolean {
    const set = syncForm(this.#ctx.options.store, 'set');
    if (set === undefined) return false;
    const now = Date.now();
    const record = this.#record(now);
    try {
      if (set(this.#id, record, this.#ttl(now), this.#conditions()) === false) return false;
    } catch {
      return false;
    }
    this.#wrote(record, now);
    return true;
  }

  /** The record exists already if the request's cookie named it, or this request created it. */
  #exists(): boolean {
    return this.#cookieId === this.#id || this.#createdId === this.#id;
  }

  /**
   * No resurrection: a save of an existing session only updates a record that still exists, so a
   * logout that raced this request stays a logout. On compare-and-set stores the write also names
   * the version it was based on, so concurrent writers are detected. A new session is created only
   * if its ID is free (version 0 = no record), so a genid that repeats an ID can never overwrite
   * another visitor's session.
   */
  #conditions(): SetConditions | undefined {
    const cas = this.#ctx.options.store.capabilities?.compareAndSet === true;
    return this.#exists() ? { onlyIfExists: true, ifVersion: cas ? this.#meta.v : undefined } : cas ? { ifVersion: 0 } : undefined;
  }

  /** Bookkeeping after a successful write of `record` at `now`. */
  #wrote(record: SessionRecord, now: number): void {
    this.#createdId = this.#id;
    this.#meta.v = record._ws!.v;
    this.#meta.a = now;
    this.#ctx.emit({ type: 'save' });
  }

  /** Applies the keys this request set or deleted (and its flash changes) onto a newer record. */
  #rebase(latest: SessionRecord): void {
    const base: SessionData = this.#snapshot === undefined ? this.#data : snapshotData(this.#snapshot);
    const merged = dataOf(latest);
    // The latest record becomes the base: a further conflict must replay this request's changes again.
    const latestJson = JSON.stringify(merged);
    for (const key of Object.keys(this.#data)) {
      if (JSON.stringify(this.#data[key]) !== JSON.stringify(base[key])) merged[key] = this.#data[key];
    }
    for (const key of Object.keys(base)) {
      if (!Object.prototype.hasOwnProperty.call(this.#data, key)) delete merged[key];
    }
    const meta = latest._ws;
    let flash = meta && typeof meta === 'object' ? meta.f : undefined;
    if (this.#flashChanged) {
      const own = this.#meta.f ?? {};
      const before = this.#flashBase ?? {};
      const next: Record<string, unknown> = { ...flash };
      for (const key of Object.keys(own)) if (own[key] !== before[key]) next[key] = own[key];
      for (const key of Object.keys(before)) if (!Object.prototype.hasOwnProperty.call(own, key)) delete next[key];
      flash = Object.keys(next).length > 0 ? next : undefined;
    }
    this.#data = merged;
    this.#snapshot = latestJson;
    this.#flashBase = meta && typeof meta === 'object' ? meta.f : undefined;
    this.#meta = {
      c: meta && typeof meta.c === 'number' ? meta.c : this.#meta.c,
      a: this.#meta.a,
      v: meta && typeof meta.v === 'number' ? meta.v : 0,
      u: this.#metaChanged ? this.#meta.u : meta?.u,
      f: flash,
    };
  }

  /** Engine hook: the commit state of this session. @internal */
  commitState(): CommitState {
    const cookie = this.#cookie!;
    // One serialisation of the data answers both questions.
    const modified = this.#modified();
    return {
      isNew: this.#cookieId !== this.#id,
      modified,
      saved: this.#saved(modified),
      explicitlySaved: this.#explicitlySaved,
      destroyed: this.#destroyed,
      hasExpiry: cookie.expires !== null,
      cookieChanged: cookie.expiryChanged || cookie.attributeKey() !== this.#cookieAttributes,
      signedWithOldSecret: this.#signedWithOldSecret,
      hadCookie: this.#cookieId !== undefined,
      sinceLastWrite: Date.now() - this.#meta.a,
      slidingLifetime: slidingLifetime(cookie.originalMaxAge, this.#ctx.options.idleTimeout),
      deliverable: this.deliverable,
      // A touch that cannot move the idle clock (express-session stores) counts as no touch.
      storeCanTouch:
        typeof this.#ctx.options.store.touch === 'function' &&
        !(this.#ctx.options.idleTimeout !== undefined && this.#ctx.options.store.capabilities?.ttlFollowsCookie === true),
    };
  }

  /** Engine hook: whether destroy() ran in this request. @internal */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Engine hook: whether the cookie can reach the browser (not `Secure` on a request that is not secure). @internal */
  get deliverable(): boolean {
    return !(this.#cookie?.secure === true && !this.requestSecure);
  }

  /** Engine hook: whether this session must never be committed (anonymous after a store error). @internal */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /** Engine hook: runs the end-of-request store action. @internal */
  async persist(action: 'set' | 'touch' | 'none'): Promise<void> {
    if (action === 'none') return;
    this.touchOnce();
    if (action === 'set') {
      this.lost = !(await this.#write(true));
      return;
    }
    const [record, ttl] = this.#touchArgs();
    const id = this.#id;
    const store = this.#ctx.options.store;
    await this.#ctx.call('touch', () => store.touch!(id, record, ttl));
    this.#ctx.emit({ type: 'touch' });
  }

  /**
   * Engine hook: {@link persist} at once, when the action needs no await: none, or a write or
   * touch of a store that does them synchronously (the memory store), without a conflict.
   * Returns whether it was done; when not, nothing was written and `persist()` does the work.
   * @internal
   */
  persistNow(action: 'set' | 'touch' | 'none'): boolean {
    if (action === 'none') return true;
    if (action === 'set') {
      this.touchOnce();
      if (!this.#writeNow()) return false;
      this.lost = false;
      return true;
    }
    const touch = syncForm(this.#ctx.options.store, 'touch');
    if (touch === undefined) return false;
    this.touchOnce();
    const [record, ttl] = this.#touchArgs();
    try {
      touch(this.#id, record, ttl);
    } catch {
      return false;
    }
    this.#ctx.emit({ type: 'touch' });
    return true;
  }

  /** What a touch sends: the record with this request's cookie and last-seen time, at the stored version, and its TTL. */
  #touchArgs(): [SessionRecord, number] {
    const now = Date.now();
    const record = this.#record(now);
    record._ws!.v = this.#meta.v;
    return [record, this.#ttl(now)];
  }

  /** Engine hook: the signed cookie value for this session. @internal */
  async signedValue(): Promise<string> {
    return `s:${await this.#ctx.signer.sign(this.#id)}`;
  }

  /** Engine hook: {@link signedValue} at once when signing needs no Web Crypto call, else undefined. @internal */
  signedValueNow(): string | undefined {
    const signed = this.#ctx.signer.signNow(this.#id);
    return signed === undefined ? undefined : `s:${signed}`;
  }
}


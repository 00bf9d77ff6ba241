/**
 * The memory store: bounded, expiring and swept, fit for a single-process app.
 * @module
 */
import { SessionError } from '../errors.ts';
import { isJsonPrimitive, SYNC, type ListedSession, type SessionRecord, type SetConditions, type Store, type StoreCapabilities, type SyncForms } from '../store.ts';

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /** Most sessions kept; the least recently written is evicted first. @default 100_000 */
  maxEntries?: number | undefined;
  /** How often expired entries are swept, in ms; 0 disables the timer. @default 60_000 */
  sweepInterval?: number | undefined;
  /** Entries examined per sweep step before yielding to the event loop. @default 5_000 */
  sweepChunk?: number | undefined;
}

/** A memory store, with the extras that only it has. */
export interface MemoryStore extends Store {
  /** Number of entries held (expired ones not yet swept included). */
  readonly length: number;
  /** Removes every entry. */
  clear(): void;
  /** Removes expired entries now, in chunks; resolves how many were removed. */
  sweep(): Promise<number>;
  /** Stops the sweep timer. */
  close(): void;
}

interface Entry {
  /** The record as JSON: every read gets a fresh copy, and a string is the most compact form. */
  json: string;
  /** Expiry, epoch ms. */
  exp: number;
  /** Record version, for compare-and-set. */
  v: number;
  /** User key, for listing. */
  u: string | undefined;
}

/**
 * JSON.stringify can return a rope of string pieces; V8 flattens a string when it is converted
 * to a number, which roughly halves what a stored record costs (measured in bench/memory.mjs).
 */
let flattened = 0;
function compact(json: string): string {
  // Kept in a variable so an optimising compiler cannot drop the conversion as unused.
  flattened = Number(json);
  return json;
}

const FRONT = '{"cookie":{';
const SEEN = ',"_ws":{"a":';

/**
 * A touched record's JSON built by replacing only its front: the cookie and `_ws.a`, when the
 * stored JSON starts `{"cookie":{...},"_ws":{"a":<integer>` with a flat cookie object (the
 * engine writes records in that order). Undefined for any other layout. No parse of the data:
 * touch is the memory store's most frequent write (every read of a session under
 * express-session's rules).
 */
function touchedFront(json: string, record: SessionRecord): string | undefined {
  const a = record._ws?.a;
  if (!Number.isSafeInteger(a) || (a as number) < 0 || !json.startsWith(FRONT)) return undefined;
  const at = json.indexOf(SEEN, FRONT.length);
  // The `}` just before `,"_ws"` must close the cookie object: nothing nested in between.
  if (at < 0 || json.charCodeAt(at - 1) !== 125 /* } */) return undefined;
  for (let i = FRONT.length; i < at; i++) {
    const c = json.charCodeAt(i);
    if (c === 123 /* { */ || c === 91 /* [ */) return undefined;
  }
  let end = at + SEEN.length;
  const digits = end;
  while (end < json.length && json.charCodeAt(end) >= 48 && json.charCodeAt(end) <= 57) end++;
  const next = json.charCodeAt(end);
  if (end === digits || (next !== 44 /* , */ && next !== 125) /* } */) return undefined;
  const cookie = JSON.stringify(record.cookie);
  if (cookie === undefined || !cookie.startsWith('{')) return undefined;
  return `{"cookie":${cookie}${SEEN}${a as number}${json.slice(end)}`;
}

/** The same as {@link touchedFront} for any layout: parse, replace, serialise. */
function touchedWhole(json: string, record: SessionRecord): string {
  const stored = JSON.parse(json) as SessionRecord;
  stored.cookie = record.cookie;
  if (stored._ws && record._ws) stored._ws.a = record._ws.a;
  return JSON.stringify(stored);
}

/** Recently read records kept parsed, at most this many (a hot session is then copied, not parsed). */
const HOT_LIMIT = 1_024;

/** One parsed record, valid while the entry still holds exactly this JSON. */
interface Hot {
  json: string;
  record: SessionRecord;
}

/** What a JSON round trip makes of a plain object of JSON primitives (undefined values dropped); undefined for anything else. */
function roundTripFlat(value: unknown): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (key === '__proto__' || !isJsonPrimitive(v)) return undefined;
    out[key] = v;
  }
  return out;
}

/**
 * What a JSON round trip makes of a record whose data values are JSON primitives and whose
 * `cookie` and `_ws` are flat; undefined for any other record (it is then not kept parsed).
 */
function roundTripRecord(record: SessionRecord): SessionRecord | undefined {
  const out = roundTripFlat({ ...record, cookie: null, _ws: null });
  const cookie = roundTripFlat(record.cookie);
  if (out === undefined || cookie === undefined) return undefined;
  out.cookie = cookie;
  if (record._ws === undefined) delete out._ws;
  else if ((out._ws = roundTripFlat(record._ws)) === undefined) return undefined;
  return out as SessionRecord;
}

/** A fresh copy of a flat record: nothing handed out shares an object with the cache. */
function copyFlat(record: SessionRecord): SessionRecord {
  const copy = { ...record };
  if (record.cookie) copy.cookie = { ...record.cookie };
  if (record._ws) copy._ws = { ...record._ws };
  return copy;
}

/**
 * The keys of `map` from the oldest (first inserted) on, for a caller that removes each key it is
 * given. One iterator is kept from one call to the next: a fresh `map.keys()` starts at the table's
 * first slot and walks past every entry deleted since the Map last rebuilt its table, which under a
 * flood of new sessions at maxEntries made each write cost 20-60 µs instead of 2. The kept
 * iterator only moves forward and everything before it was removed, so it always stands at the
 * oldest key (a key deleted and set again moves to the end, where it is met again).
 */
function oldestFirst(map: Map<string, unknown>): { next(): string | undefined; reset(): void } {
  let keys: Iterator<string> | undefined;
  return {
    next() {
      let step = keys?.next();
      if (step === undefined || step.done === true) {
        // An exhausted Map iterator stays exhausted, even after new entries: start a new one.
        keys = map.keys();
        step = keys.next();
      }
      return step.done === true ? undefined : step.value;
    },
    reset() {
      keys = undefined;
    },
  };
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

function unref(timer: unknown): void {
  if (timer && typeof timer === 'object' && 'unref' in timer && typeof timer.unref === 'function') timer.unref();
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof timer === 'number' && deno?.unrefTimer) deno.unrefTimer(timer);
}

/** Creates a memory store. Its timer is unref'd and starts on the first write. */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const maxEntries = options.maxEntries ?? 100_000;
  const sweepInterval = options.sweepInterval ?? 60_000;
  const sweepChunk = options.sweepChunk ?? 5_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new SessionError('ERR_CONFIG', 'websession: option maxEntries must be a positive integer');
  if (!(sweepInterval >= 0)) throw new SessionError('ERR_CONFIG', 'websession: option sweepInterval must be >= 0 (ms)');
  if (!Number.isInteger(sweepChunk) || sweepChunk < 1) throw new SessionError('ERR_CONFIG', 'websession: option sweepChunk must be a positive integer');
  const entries = new Map<string, Entry>();
  const byUser = new Map<string, Set<string>>();
  // A parse costs about 1 µs for a small record, most of a session read: hot records are copied
  // from here instead. Bounded, and checked against the entry's JSON on every hit.
  const hot = new Map<string, Hot>();
  const oldestEntry = oldestFirst(entries);
  const oldestHot = oldestFirst(hot);
  let timer: unknown;
  let sweeping: Promise<number> | undefined;

  const unindex = (id: string, entry: Entry): void => {
    if (entry.u === undefined) return;
    const ids = byUser.get(entry.u);
    ids?.delete(id);
    if (ids?.size === 0) byUser.delete(entry.u);
  };
  const remove = (id: string, entry: Entry): void => {
    entries.delete(id);
    hot.delete(id);
    unindex(id, entry);
  };
  const remember = (id: string, json: string, record: SessionRecord): void => {
    if (hot.size >= HOT_LIMIT && !hot.has(id)) hot.delete(oldestHot.next()!);
    hot.set(id, { json, record });
  };
  const live = (id: string, now: number): Entry | undefined => {
    const entry = entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.exp <= now) {
      remove(id, entry);
      return undefined;
    }
    return entry;
  };
  /** A fresh copy of the record, or undefined; `get` without the promise. */
  const read = (id: string): SessionRecord | undefined => {
    const entry = live(id, Date.now());
    if (entry === undefined) return undefined;
    const cached = hot.get(id);
    if (cached !== undefined && cached.json === entry.json) return copyFlat(cached.record);
    const record = JSON.parse(entry.json) as SessionRecord;
    const copy = roundTripRecord(record);
    if (copy !== undefined) remember(id, entry.json, copy);
    return record;
  };
  /** `set` without the promise. */
  const setNow = (id: string, record: SessionRecord, ttlMs: number, conditions?: SetConditions): boolean => {
    const now = Date.now();
    if (!(ttlMs > 0)) {
      // A non-positive or NaN TTL means "already expired": never keep such a record.
      const stale = entries.get(id);
      if (stale !== undefined) remove(id, stale);
      return true;
    }
    const existing = live(id, now);
    if (conditions?.onlyIfExists && existing === undefined) return false;
    if (conditions?.ifVersion !== undefined && (existing?.v ?? 0) !== conditions.ifVersion) return false;
    const u = record._ws?.u;
    const entry: Entry = { json: compact(JSON.stringify(record)), exp: now + ttlMs, v: record._ws?.v ?? 0, u };
    // A session read recently is likely read again: keep it parsed rather than parse it then.
    const parsed = hot.has(id) ? roundTripRecord(record) : undefined;
    if (existing !== undefined) remove(id, existing);
    entries.set(id, entry);
    if (parsed !== undefined) remember(id, entry.json, parsed);
    if (u !== undefined) {
      let ids = byUser.get(u);
      if (ids === undefined) byUser.set(u, (ids = new Set()));
      ids.add(id);
    }
    // Bounded: evict the least recently written entries (Map keeps insertion order).
    while (entries.size > maxEntries) {
      const oldest = oldestEntry.next()!;
      remove(oldest, entries.get(oldest)!);
    }
    startTimer();
    return true;
  };
  /** `touch` without the promise. */
  const touchNow = (id: string, record: SessionRecord, ttlMs: number): void => {
    const now = Date.now();
    const entry = live(id, now);
    if (entry === undefined) return;
    // Replace only the cookie and the last-seen time; the data stays as stored.
    const front = touchedFront(entry.json, record);
    entry.json = compact(front ?? touchedWhole(entry.json, record));
    entry.exp = now + ttlMs;
    const cached = hot.get(id);
    if (cached !== undefined) {
      // The fast path changed exactly the cookie and `_ws.a`: follow it in the parsed copy.
      const parsed = front === undefined ? undefined : roundTripFlat(record.cookie);
      if (parsed !== undefined && cached.record._ws) {
        cached.record = { ...cached.record, cookie: parsed as unknown as SessionRecord['cookie'], _ws: { ...cached.record._ws, a: record._ws!.a } };
        cached.json = entry.json;
      } else {
        hot.delete(id);
      }
    }
    entries.delete(id);
    entries.set(id, entry);
  };
  const startTimer = (): void => {
    if (timer !== undefined || sweepInterval === 0) return;
    timer = setInterval(() => void store.sweep(), sweepInterval);
    unref(timer);
  };

  const store: MemoryStore = {
    capabilities: { nativeTtl: true, consistency: 'strong', compareAndSet: true, listing: true } satisfies StoreCapabilities,
    get length() {
      return entries.size;
    },
    async get(id) {
      return read(id);
    },
    async set(id, record, ttlMs, conditions?: SetConditions) {
      return setNow(id, record, ttlMs, conditions);
    },
    async touch(id, record, ttlMs) {
      touchNow(id, record, ttlMs);
    },
    async destroy(id) {
      const entry = entries.get(id);
      if (entry !== undefined) remove(id, entry);
    },
    async listByUser(userKey) {
      const now = Date.now();
      const out: ListedSession[] = [];
      for (const id of [...(byUser.get(userKey) ?? [])]) {
        const entry = live(id, now);
        if (entry !== undefined) out.push({ id, record: JSON.parse(entry.json) as SessionRecord });
      }
      return out;
    },
    clear() {
      entries.clear();
      hot.clear();
      oldestEntry.reset();
      oldestHot.reset();
      byUser.clear();
    },
    sweep() {
      sweeping ??= (async () => {
        let removed = 0;
        let seen = 0;
        let now = Date.now();
        // Work in chunks and yield between them: a million expired entries never block the loop.
        for (const [id, entry] of entries) {
          if (entry.exp <= now) {
            remove(id, entry);
            removed++;
          }
          if (++seen % sweepChunk === 0) {
            await yieldToLoop();
            now = Date.now();
          }
        }
        return removed;
      })().finally(() => {
        sweeping = undefined;
      });
      return sweeping;
    },
    close() {
      if (timer !== undefined) clearInterval(timer as Parameters<typeof clearInterval>[0]);
      timer = undefined;
    },
  };
  // The engine reads, writes and touches this store without a promise (and without a timeout: it cannot hang).
  (store as { [SYNC]?: SyncForms })[SYNC] = { get: store.get, getNow: read, touch: store.touch, touchNow, set: store.set, setNow };
  return store;
}

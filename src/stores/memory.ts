/**
 * The memory store: bounded, expiring and swept, fit for a single-process app.
 * @module
 */
import { SessionError } from '../errors.ts';
import type { ListedSession, SessionRecord, SetConditions, Store, StoreCapabilities } from '../store.ts';

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
    unindex(id, entry);
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
      const entry = live(id, Date.now());
      return entry === undefined ? undefined : (JSON.parse(entry.json) as SessionRecord);
    },
    async set(id, record, ttlMs, conditions?: SetConditions) {
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
      if (existing !== undefined) remove(id, existing);
      entries.set(id, entry);
      if (u !== undefined) {
        let ids = byUser.get(u);
        if (ids === undefined) byUser.set(u, (ids = new Set()));
        ids.add(id);
      }
      // Bounded: evict the least recently written entries (Map keeps insertion order).
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value as string;
        remove(oldest, entries.get(oldest)!);
      }
      startTimer();
      return true;
    },
    async touch(id, record, ttlMs) {
      const now = Date.now();
      const entry = live(id, now);
      if (entry === undefined) return;
      // Replace only the cookie and the last-seen time; the data stays as stored.
      entry.json = compact(touchedFront(entry.json, record) ?? touchedWhole(entry.json, record));
      entry.exp = now + ttlMs;
      entries.delete(id);
      entries.set(id, entry);
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
  return store;
}

/**
 * The Cloudflare Workers KV store.
 *
 * Revocation delay: KV is eventually consistent. A write or delete can take up to about 60
 * seconds (Cloudflare documents "60 s or more") to reach other locations, and reads are
 * cached at the edge. So `destroy()`, logout, `regenerate()` and "sign out everywhere" are
 * not immediate worldwide: a stolen cookie can keep working at another location for about a
 * minute after its session was destroyed, and a session may briefly read stale data there.
 * Where revocation must be immediate, use a strongly consistent store (Durable Objects, D1,
 * Redis, SQL).
 *
 * - The value is `{ e, w, r }`: expiry and last write (epoch ms) and the record. Expiry is
 *   enforced from `e` on every read, so TTLs below KV's 60 s minimum work and a stale cached
 *   read of an expired session is still refused. `expirationTtl` is never below 60 s.
 * - `touch` rewrites the value (KV cannot extend a TTL alone), throttled: a key is written at
 *   most once per `minWriteInterval` (KV allows about one write per second per key) and only
 *   when the expiry would move by more than `touchFraction` of the TTL. Last-write times are
 *   remembered per key in a bounded map (per isolate) and read back from `w` otherwise. A
 *   busy session's expiry and `_ws.a` therefore lag by up to that fraction: an idle session
 *   may end up to a quarter of its TTL early, never late.
 * - Writes are last-write-wins; `onlyIfExists` is checked by a read first (not atomic, and
 *   subject to the propagation delay above).
 *
 * @example
 * ```ts
 * export default {
 *   fetch(request: Request, env: { SESSIONS: KVNamespace }) {
 *     const engine = createSessionEngine({ secret: env.SECRET, store: createKvStore(env.SESSIONS) });
 *     ...
 *   },
 * };
 * ```
 * @module
 */
import { SessionError, storeError } from '../errors.ts';
import { isRecord, type SessionRecord, type SetConditions, type Store, type StoreCapabilities } from '../store.ts';
import { ttlOf } from './record.ts';

/** The part of a Workers `KVNamespace` binding the store uses, typed structurally. */
export interface KvNamespaceLike {
  get(key: string, type: 'text'): Promise<string | null>;
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Options of {@link createKvStore}. */
export interface KvStoreOptions {
  /** Key prefix. @default 'sess:' */
  prefix?: string | undefined;
  /** Least time between two touch writes of one key, in ms. @default 1000 */
  minWriteInterval?: number | undefined;
  /** A touch writes only when it moves the expiry by more than this fraction of the TTL. @default 0.25 */
  touchFraction?: number | undefined;
  /** Keys whose last write time is remembered (per isolate). @default 10_000 */
  cacheSize?: number | undefined;
  /** Called when a stored value is not a session record; the read then finds no session. */
  onCorrupt?: ((id: string, error: unknown) => void) | undefined;
}

/** A KV-backed {@link Store}. */
export interface KvStore extends Store {
  /** The key prefix in use. */
  readonly prefix: string;
}

interface Envelope {
  /** Expiry, epoch ms. */
  e: number;
  /** Written at, epoch ms. */
  w: number;
  r: SessionRecord;
}

interface LastWrite {
  w: number;
  e: number;
}

/** KV's minimum `expirationTtl`, in seconds. */
const KV_MIN_TTL_SECONDS = 60;


/** Creates a KV store on a `KVNamespace` binding. */
export function createKvStore(namespace: KvNamespaceLike, options: KvStoreOptions = {}): KvStore {
  if (!namespace || typeof namespace.get !== 'function' || typeof namespace.put !== 'function' || typeof namespace.delete !== 'function') {
    throw new SessionError('ERR_CONFIG', 'websession: createKvStore needs a KV namespace binding (get, put, delete)');
  }
  const prefix = options.prefix ?? 'sess:';
  const minWriteInterval = options.minWriteInterval ?? 1000;
  const touchFraction = options.touchFraction ?? 0.25;
  const cacheSize = options.cacheSize ?? 10_000;
  if (typeof prefix !== 'string') throw new SessionError('ERR_CONFIG', 'websession: option prefix must be a string');
  if (!(minWriteInterval >= 0)) throw new SessionError('ERR_CONFIG', 'websession: option minWriteInterval must be >= 0 (ms)');
  if (!(touchFraction >= 0 && touchFraction < 1)) throw new SessionError('ERR_CONFIG', 'websession: option touchFraction must be in [0, 1)');
  if (!Number.isInteger(cacheSize) || cacheSize < 0) throw new SessionError('ERR_CONFIG', 'websession: option cacheSize must be a non-negative integer');
  const onCorrupt = options.onCorrupt;
  const key = (id: string): string => prefix + id;

  // Bounded: insertion order is recency order; the oldest entry goes first.
  const lastWrites = new Map<string, LastWrite>();
  const remember = (id: string, last: LastWrite): void => {
    if (cacheSize === 0) return;
    lastWrites.delete(id);
    lastWrites.set(id, last);
    if (lastWrites.size > cacheSize) lastWrites.delete(lastWrites.keys().next().value as string);
  };

  const read = async (id: string): Promise<Envelope | undefined> => {
    const raw = await namespace.get(key(id), 'text');
    if (raw === null || raw === undefined) return undefined;
    try {
      const value = JSON.parse(raw) as Envelope;
      if (typeof value !== 'object' || value === null || typeof value.e !== 'number' || !isRecord(value.r)) throw new TypeError('stored value is not a session record');
      return value;
    } catch (err) {
      onCorrupt?.(id, err);
      return undefined;
    }
  };

  /** The live envelope of `id` (missing, expired and corrupt values are none). */
  const live = async (id: string, now: number): Promise<Envelope | undefined> => {
    const envelope = await read(id);
    if (envelope === undefined || envelope.e <= now) return undefined;
    remember(id, { w: typeof envelope.w === 'number' ? envelope.w : 0, e: envelope.e });
    return envelope;
  };

  const write = async (id: string, record: SessionRecord, now: number, ttl: number): Promise<void> => {
    const e = now + ttl;
    await namespace.put(key(id), `{"e":${e},"w":${now},"r":${JSON.stringify(record)}}`, { expirationTtl: Math.max(KV_MIN_TTL_SECONDS, Math.ceil(ttl / 1000)) });
    remember(id, { w: now, e });
  };

  /** Whether a touch moving the expiry to `e` is worth a KV write after `last`. */
  const due = (last: LastWrite, now: number, e: number, ttl: number): boolean => now - last.w >= minWriteInterval && e - last.e > ttl * touchFraction;

  const capabilities: StoreCapabilities = { nativeTtl: true, consistency: 'eventual', compareAndSet: false, listing: false };

  const store: KvStore = {
    capabilities,
    prefix,
    async get(id) {
      try {
        return (await live(id, Date.now()))?.r;
      } catch (err) {
        throw storeError('get', err);
      }
    },
    async set(id, record, ttlMs, conditions?: SetConditions) {
      const ttl = ttlOf('set', ttlMs);
      try {
        if (ttl === 0) {
          await store.destroy(id);
          return true;
        }
        const now = Date.now();
        if (conditions?.onlyIfExists && (await live(id, now)) === undefined) return false;
        await write(id, record, now, ttl);
        return true;
      } catch (err) {
        throw storeError('set', err);
      }
    },
    async touch(id, record, ttlMs) {
      const ttl = ttlOf('touch', ttlMs);
      try {
        if (ttl === 0) {
          await store.destroy(id);
          return;
        }
        const now = Date.now();
        const e = now + ttl;
        const known = lastWrites.get(id);
        if (known !== undefined && !due(known, now, e, ttl)) return;
        const envelope = await read(id);
        if (envelope === undefined || envelope.e <= now) return; // never creates
        const last = { w: typeof envelope.w === 'number' ? envelope.w : 0, e: envelope.e };
        if (!due(last, now, e, ttl)) {
          remember(id, last);
          return;
        }
        // Keep the stored data; take only the refreshed cookie and last-seen time.
        const stored = envelope.r;
        stored.cookie = record.cookie;
        if (stored._ws && record._ws) stored._ws.a = record._ws.a;
        await write(id, stored, now, ttl);
      } catch (err) {
        throw storeError('touch', err);
      }
    },
    async destroy(id) {
      lastWrites.delete(id);
      try {
        await namespace.delete(key(id));
      } catch (err) {
        throw storeError('destroy', err);
      }
    },
  };
  return store;
}

/**
 * Any unstorage `Storage` (memory, fs, Redis, Cloudflare KV, Vercel KV, ... drivers) as a
 * session store.
 *
 * The value is `{ e, r }`: the expiry (epoch ms) and the record as a JSON string. The
 * embedded expiry is checked on every read, so TTLs below a driver's resolution work (KV's
 * 60 s floor, drivers that ignore `ttl` such as memory and fs); `{ ttl }` in seconds is still
 * passed to `setItem` so drivers that support it clean up by themselves. Keeping the record
 * a string inside the value keeps it byte-exact: unstorage's `destr` parser never sees (and
 * so never drops) keys like `__proto__` in session data.
 *
 * IDs outside `[A-Za-z0-9_-]` are hex-encoded in the key, since unstorage rewrites `/`, `\`,
 * `?` and `:` in keys. Writes are last-write-wins; `onlyIfExists` is checked before the write
 * (not atomic); `touch` rewrites the value with the refreshed cookie.
 *
 * For drivers without native expiry (memory, fs), pass `nativeTtl: false` and call `sweep()`
 * from a timer; it needs the storage's `getKeys`.
 *
 * @example
 * ```ts
 * import { createStorage } from 'unstorage';
 * import redisDriver from 'unstorage/drivers/redis';
 * const store = fromUnstorage(createStorage({ driver: redisDriver({ url: process.env.REDIS_URL }) }));
 * ```
 * @module
 */
import { SessionError, storeError } from '../errors.ts';
import { isRecord, type SessionRecord, type SetConditions, type Store, type StoreCapabilities } from '../store.ts';
import { ttlOf } from './record.ts';

/** The part of unstorage's `Storage` the store uses, typed structurally. */
export interface UnstorageLike {
  getItem(key: string): Promise<unknown>;
  /** unstorage serialises the value (objects as JSON). */
  setItem(key: string, value: any, options?: { ttl?: number }): Promise<void>;
  removeItem(key: string): Promise<void>;
  getKeys?(base?: string): Promise<string[]>;
}

/** Options of {@link fromUnstorage}. */
export interface UnstorageStoreOptions {
  /** Key prefix inside the storage. @default 'sess:' */
  prefix?: string | undefined;
  /** Whether the driver expires keys by itself from `{ ttl }` (redis, KV: yes; memory, fs: no). @default true */
  nativeTtl?: boolean | undefined;
  /** Whether a write is visible to every later read: `eventual` for KV-like drivers. @default 'strong' */
  consistency?: 'strong' | 'eventual' | undefined;
  /** Called when a stored value is not a session record; the read then finds no session. */
  onCorrupt?: ((id: string, error: unknown) => void) | undefined;
}

/** An unstorage-backed {@link Store}. */
export interface UnstorageStore extends Store {
  /** Removes expired and unreadable entries under the prefix (needs `getKeys`); resolves how many. */
  sweep(): Promise<number>;
}

interface Envelope {
  e: number;
  r: string;
}

const SAFE_ID = /^[A-Za-z0-9_-]{1,512}$/;


/** Encodes an ID so unstorage's key normalisation cannot merge two IDs (`~` + UTF-16 hex otherwise). */
function keyPart(id: string): string {
  if (SAFE_ID.test(id)) return id;
  let out = '~';
  for (let i = 0; i < id.length; i++) out += id.charCodeAt(i).toString(16).padStart(4, '0');
  return out;
}

/** Wraps an unstorage `Storage` as a session store. */
export function fromUnstorage(storage: UnstorageLike, options: UnstorageStoreOptions = {}): UnstorageStore {
  if (!storage || typeof storage.getItem !== 'function' || typeof storage.setItem !== 'function' || typeof storage.removeItem !== 'function') {
    throw new SessionError('ERR_CONFIG', 'websession: fromUnstorage needs an unstorage Storage (getItem, setItem, removeItem)');
  }
  const prefix = options.prefix ?? 'sess:';
  if (typeof prefix !== 'string' || /[?/\\]/.test(prefix)) throw new SessionError('ERR_CONFIG', 'websession: option prefix must be a string without ? / \\');
  const nativeTtl = options.nativeTtl ?? true;
  const onCorrupt = options.onCorrupt;
  const key = (id: string): string => prefix + keyPart(id);

  const decode = (raw: unknown): { envelope: Envelope; record: SessionRecord } => {
    const envelope = raw as Envelope;
    if (typeof envelope !== 'object' || envelope === null || typeof envelope.e !== 'number' || typeof envelope.r !== 'string') throw new TypeError('stored value is not a session envelope');
    const record: unknown = JSON.parse(envelope.r);
    if (!isRecord(record)) throw new TypeError('stored value is not a session record');
    return { envelope, record };
  };

  /** The live record of `id`, or undefined (missing, expired, corrupt). */
  const live = async (id: string, now: number): Promise<SessionRecord | undefined> => {
    const raw = await storage.getItem(key(id));
    if (raw === null || raw === undefined) return undefined;
    let decoded: { envelope: Envelope; record: SessionRecord };
    try {
      decoded = decode(raw);
    } catch (err) {
      onCorrupt?.(id, err);
      return undefined;
    }
    if (decoded.envelope.e <= now) {
      // Without native expiry nothing else removes it.
      if (!nativeTtl) await storage.removeItem(key(id));
      return undefined;
    }
    return decoded.record;
  };

  const write = (id: string, record: SessionRecord, now: number, ttl: number): Promise<void> =>
    storage.setItem(key(id), { e: now + ttl, r: JSON.stringify(record) } satisfies Envelope, { ttl: Math.max(1, Math.ceil(ttl / 1000)) });

  const capabilities: StoreCapabilities = { nativeTtl, consistency: options.consistency ?? 'strong', compareAndSet: false, listing: false };

  const store: UnstorageStore = {
    capabilities,
    async get(id) {
      try {
        return await live(id, Date.now());
      } catch (err) {
        throw storeError('get', err);
      }
    },
    async set(id, record, ttlMs, conditions?: SetConditions) {
      const ttl = ttlOf('set', ttlMs);
      try {
        if (ttl === 0) {
          await storage.removeItem(key(id));
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
          await storage.removeItem(key(id));
          return;
        }
        const now = Date.now();
        const stored = await live(id, now);
        if (stored === undefined) return; // never creates
        stored.cookie = record.cookie;
        if (stored._ws && record._ws) stored._ws.a = record._ws.a;
        await write(id, stored, now, ttl);
      } catch (err) {
        throw storeError('touch', err);
      }
    },
    async destroy(id) {
      try {
        await storage.removeItem(key(id));
      } catch (err) {
        throw storeError('destroy', err);
      }
    },
    async sweep() {
      if (typeof storage.getKeys !== 'function') throw storeError('sweep', new TypeError('this storage has no getKeys'));
      try {
        const base = prefix.replace(/:+$/, '');
        const keys = await storage.getKeys(base);
        const now = Date.now();
        let removed = 0;
        for (const k of keys) {
          if (!k.startsWith(base)) continue;
          const raw = await storage.getItem(k);
          if (raw === null || raw === undefined) continue;
          let expired: boolean;
          try {
            expired = decode(raw).envelope.e <= now;
          } catch {
            expired = true; // unreadable: no session, remove it
          }
          if (expired) {
            await storage.removeItem(k);
            removed++;
          }
        }
        return removed;
      } catch (err) {
        throw storeError('sweep', err);
      }
    },
  };
  return store;
}

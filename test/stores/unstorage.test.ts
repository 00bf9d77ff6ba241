// fromUnstorage over real unstorage: the memory driver, and the redis driver against the real
// redis-server (REDIS_URL; skipped without it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStorage, defineDriver } from 'unstorage';
import memoryDriver from 'unstorage/drivers/memory';
import redisDriver from 'unstorage/drivers/redis';
import { Redis } from 'ioredis';
import { fromUnstorage } from '../../src/stores/unstorage.ts';
import { runStoreContract } from '../../src/testing.ts';
import type { SessionRecord } from '../../src/store.ts';

const url = process.env.REDIS_URL;
const base = `wstest-unstorage-${process.pid}-${Date.now().toString(36)}`;

function record(ttlMs: number, data: Record<string, unknown> = {}): SessionRecord {
  const now = Date.now();
  return { cookie: { originalMaxAge: ttlMs, expires: new Date(now + ttlMs).toISOString(), path: '/' }, ...data, _ws: { c: now, a: now, v: 1 } };
}

const throwingDriver = defineDriver(() => ({
  name: 'throwing',
  hasItem: () => Promise.reject(new Error('driver down')),
  getItem: () => Promise.reject(new Error('driver down')),
  setItem: () => Promise.reject(new Error('driver down')),
  removeItem: () => Promise.reject(new Error('driver down')),
  getKeys: () => Promise.reject(new Error('driver down')),
}));

describe('unstorage (memory driver)', () => {
  runStoreContract(
    'unstorage (memory driver)',
    ({ onCorrupt }) => {
      const storage = createStorage({ driver: memoryDriver() });
      return {
        store: fromUnstorage(storage, { nativeTtl: false, onCorrupt }),
        // getItem cannot tell a stored "null" from a missing key: that payload is absent, not corrupt.
        corrupt: async (id, raw) => (raw === 'null' ? false : storage.setItem(`sess:${id}`, raw)),
        failing: () => fromUnstorage(createStorage({ driver: throwingDriver() })),
      };
    },
    { describe, it },
  );

  it('declares capabilities from its options', () => {
    const storage = createStorage({ driver: memoryDriver() });
    expect(fromUnstorage(storage).capabilities).toEqual({ nativeTtl: true, consistency: 'strong', compareAndSet: false, listing: false });
    expect(fromUnstorage(storage, { nativeTtl: false, consistency: 'eventual' }).capabilities).toMatchObject({ nativeTtl: false, consistency: 'eventual' });
    expect(() => fromUnstorage({} as never)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });

  it('keeps IDs that unstorage would normalise apart', async () => {
    const storage = createStorage({ driver: memoryDriver() });
    const store = fromUnstorage(storage);
    const ids = ['a/b', 'a:b', 'a\\b', 'a?b', 'a', '..', '.', 'a b', '😀', '\uD800'];
    for (const [i, id] of ids.entries()) await store.set(id, record(60_000, { i }), 60_000);
    for (const [i, id] of ids.entries()) expect((await store.get(id))?.i, id).toBe(i);
    expect(new Set(await storage.getKeys('sess')).size).toBe(ids.length);
  });

  it('sweep removes expired and unreadable entries under the prefix only', async () => {
    const storage = createStorage({ driver: memoryDriver() });
    const store = fromUnstorage(storage, { nativeTtl: false });
    await store.set('live', record(60_000), 60_000);
    await store.set('short', record(30), 30);
    await storage.setItem('sess:bad', '{bad');
    await storage.setItem('other:key', 'keep');
    await new Promise((r) => setTimeout(r, 60));
    expect(await store.sweep()).toBe(2);
    expect((await storage.getKeys()).sort()).toEqual(['other:key', 'sess:live']);
  });

  it('an envelope whose record is not a session is corrupt', async () => {
    const storage = createStorage({ driver: memoryDriver() });
    const seen: string[] = [];
    const store = fromUnstorage(storage, { onCorrupt: (id) => seen.push(id) });
    await storage.setItem('sess:x', { e: Date.now() + 60_000, r: '{"no":"cookie"}' });
    await storage.setItem('sess:y', { e: Date.now() + 60_000, r: '{trunc' });
    await storage.setItem('sess:z', { e: 'soon', r: JSON.stringify(record(1)) });
    for (const id of ['x', 'y', 'z']) expect(await store.get(id)).toBeUndefined();
    expect(seen).toEqual(['x', 'y', 'z']);
  });
});

describe.skipIf(!url)('unstorage (redis driver, real Redis)', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(url!);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${base}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const storages: { dispose(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const s of storages) await s.dispose();
  });
  const storage = () => {
    const s = createStorage({ driver: redisDriver({ url, base }) });
    storages.push(s);
    return s;
  };

  runStoreContract(
    'unstorage (redis driver)',
    ({ onCorrupt }) => {
      const s = storage();
      return {
        store: fromUnstorage(s, { onCorrupt }),
        corrupt: async (id, raw) => (raw === 'null' ? false : s.setItem(`sess:${id}`, raw, { ttl: 60 })),
        failing: () => {
          const driver = redisDriver({ url: 'redis://127.0.0.1:1', lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
          (driver.getInstance!() as Redis).on('error', () => {});
          const dead = createStorage({ driver });
          storages.push(dead);
          return fromUnstorage(dead);
        },
      };
    },
    { describe, it },
  );

  it('every Redis key gets a native TTL; sub-second TTLs hold through the embedded expiry', async () => {
    const store = fromUnstorage(storage());
    await store.set('short', record(300), 300);
    await store.set('long', record(90_000), 90_000);
    expect(await redis.ttl(`${base}:sess:short`)).toBe(1);
    expect(await redis.ttl(`${base}:sess:long`)).toBeGreaterThan(85);
    expect(await store.get('short')).toBeDefined();
    await new Promise((r) => setTimeout(r, 400));
    expect(await redis.exists(`${base}:sess:short`)).toBe(1); // still in Redis (1 s resolution) ...
    expect(await store.get('short')).toBeUndefined(); // ... but expired for the store
    await store.touch('long', record(200_000), 200_000);
    expect(await redis.ttl(`${base}:sess:long`)).toBeGreaterThan(190);
  });
});

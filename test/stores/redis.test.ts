// The Redis store against a real redis-server on loopback (REDIS_URL; .ci/run starts one at
// 127.0.0.1:6390). Without REDIS_URL the file skips. Runs the contract suite with both
// node-redis and ioredis, then Redis-specific checks: connect-redis interop, TTL on every key,
// the user index, WRONGTYPE as corrupt, lone surrogates inside the compare-and-set script.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { Redis } from 'ioredis';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { createRedisStore } from '../../src/stores/redis.ts';
import type { RedisClientLike } from '../../src/stores/redis.ts';
import { runStoreContract } from '../../src/testing.ts';
import type { SessionRecord } from '../../src/store.ts';

const url = process.env.REDIS_URL;
const run = `wstest:${process.pid}:${Date.now().toString(36)}:`;

type NodeRedis = ReturnType<typeof createClient>;
let nodeRedis: NodeRedis;
let ioredis: Redis;

function record(ttlMs: number, data: Record<string, unknown> = {}, ws: Partial<NonNullable<SessionRecord['_ws']>> = {}): SessionRecord {
  const now = Date.now();
  return { cookie: { originalMaxAge: ttlMs, expires: new Date(now + ttlMs).toISOString(), path: '/', httpOnly: true }, ...data, _ws: { c: now, a: now, v: 1, ...ws } };
}

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = (await ioredis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)) as [string, string[]];
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

describe.skipIf(!url)('redis store', () => {
  beforeAll(async () => {
    nodeRedis = createClient({ url });
    nodeRedis.on('error', () => {});
    await nodeRedis.connect();
    ioredis = new Redis(url!, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await ioredis.connect();
  });

  afterAll(async () => {
    if (ioredis) {
      const keys = await keysUnder(run);
      for (let i = 0; i < keys.length; i += 500) await ioredis.del(...keys.slice(i, i + 500));
      ioredis.disconnect();
    }
    await nodeRedis?.close();
  });

  const clients: [string, () => RedisClientLike, () => Promise<RedisClientLike>][] = [
    [
      'node-redis',
      () => nodeRedis,
      async () => {
        const closed = createClient({ url });
        closed.on('error', () => {});
        await closed.connect();
        await closed.close();
        return closed;
      },
    ],
    ['ioredis', () => ioredis, async () => new Redis(url!, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })],
  ];

  for (const [label, client, failing] of clients) {
    const prefix = `${run}${label}:`;
    runStoreContract(
      `redis (${label})`,
      ({ onCorrupt }) => ({
        store: createRedisStore(client(), { prefix, onCorrupt }),
        corrupt: async (id, raw) => {
          await ioredis.set(prefix + id, raw, 'PX', 60_000);
        },
        failing: async () => createRedisStore(await failing(), { prefix }),
      }),
      { describe, it },
    );
  }

  it('rejects a client it cannot drive and a prefix with glob characters', () => {
    expect(() => createRedisStore({} as RedisClientLike)).toThrow(/sendCommand/);
    expect(() => createRedisStore(nodeRedis, { prefix: 'sess*' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });

  it('uses connect-redis layout: a session written by connect-redis is read, and ours is read by connect-redis', async () => {
    const prefix = `${run}interop:`;
    const theirs = new ConnectRedisStore({ client: nodeRedis, prefix });
    const ours = createRedisStore(ioredis, { prefix });
    const legacy = { cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString(), httpOnly: true, path: '/' }, user: 'ann', cart: ['é', '😀'] };
    await theirs.set('from-connect', legacy as never);
    expect(await ours.get('from-connect')).toEqual(legacy);
    const pttl = await ioredis.pttl(`${prefix}from-connect`);
    expect(pttl).toBeGreaterThan(55_000);

    const mine = record(60_000, { user: 'bob', loneSurrogate: '\uD800' });
    await ours.set('from-websession', mine, 60_000);
    expect(await theirs.get('from-websession')).toEqual(JSON.parse(JSON.stringify(mine)));
    expect(await ioredis.get(`${prefix}from-websession`)).toBe(JSON.stringify(mine));

    // connect-redis touch (EXPIRE) on our record and our touch on theirs both keep the data.
    await theirs.touch('from-websession', { ...mine, cookie: { ...mine.cookie, expires: new Date(Date.now() + 120_000).toISOString() } } as never);
    expect(await ioredis.pttl(`${prefix}from-websession`)).toBeGreaterThan(100_000);
    await ours.touch('from-connect', record(200_000), 200_000);
    expect(await ioredis.pttl(`${prefix}from-connect`)).toBeGreaterThan(150_000);
    expect(await ours.get('from-connect')).toEqual(legacy);
    // An end-of-request save with onlyIfExists updates a connect-redis record (it has no _ws version).
    expect(await ours.set('from-connect', record(60_000, { user: 'ann', v: 2 }), 60_000, { onlyIfExists: true })).toBe(true);
    expect(await ours.set('from-connect', record(60_000, { user: 'ann', v: 3 }), 60_000, { ifVersion: 1 })).toBe(true);
  });

  it('never leaves a key without a TTL, user index included', async () => {
    const prefix = `${run}ttl:`;
    const store = createRedisStore(nodeRedis, { prefix });
    await store.set('a', record(30_000, {}, { u: 'alice' }), 30_000);
    await store.set('b', record(90_000, {}, { u: 'alice' }), 90_000);
    await store.set('c', record(10_000), 10_000, { onlyIfExists: true });
    await store.set('d', record(10_000), 10_000, { ifVersion: 0 });
    await store.set('e', record(10_000, {}, { u: 'bob' }), 10_000, { ifVersion: 0 });
    await store.touch('a', record(120_000, {}, { u: 'alice' }), 120_000);
    await store.set('f', record(0), 0);
    const keys = (await keysUnder(prefix)).sort();
    expect(keys).toEqual([`${prefix}a`, `${prefix}b`, `${prefix}d`, `${prefix}e`, `${prefix}user:alice`, `${prefix}user:bob`].sort());
    for (const k of keys) expect(await ioredis.pttl(k), k).toBeGreaterThan(0);
    // The index outlives its longest session, also after a touch extended one.
    const indexTtl = await ioredis.pttl(`${prefix}user:alice`);
    expect(indexTtl).toBeGreaterThanOrEqual((await ioredis.pttl(`${prefix}a`)) - 5);
    expect(indexTtl).toBeGreaterThan(110_000);
  });

  it('prunes the user index on listing', async () => {
    const prefix = `${run}prune:`;
    const store = createRedisStore(ioredis, { prefix });
    for (const id of ['s1', 's2', 's3']) await store.set(id, record(60_000, {}, { u: 'carol' }), 60_000);
    await store.destroy('s1');
    await store.set('s2', record(60_000, {}, { u: 'dave' }), 60_000);
    expect((await store.listByUser('carol')).map((s) => s.id)).toEqual(['s3']);
    expect((await ioredis.smembers(`${prefix}user:carol`)).sort()).toEqual(['s3']);
  });

  it('treats a key of another Redis type as corrupt, not as an outage', async () => {
    const prefix = `${run}wrongtype:`;
    const seen: string[] = [];
    const store = createRedisStore(nodeRedis, { prefix, onCorrupt: (id) => seen.push(id) });
    await ioredis.sadd(`${prefix}x`, 'member');
    await ioredis.pexpire(`${prefix}x`, 60_000);
    expect(await store.get('x')).toBeUndefined();
    expect(seen).toEqual(['x']);
    // A versioned write replaces it (it holds no version, like a missing record).
    expect(await store.set('x', record(60_000), 60_000, { ifVersion: 0 })).toBe(true);
    expect(await store.get('x')).toBeDefined();
  });

  it('compares versions of records that cjson cannot decode as is (lone surrogates, escaped backslashes)', async () => {
    const prefix = `${run}lua:`;
    const store = createRedisStore(ioredis, { prefix });
    const tricky = { lone: '\uD800', low: '\uDC00', pair: '😀', slashU: '\\ud800', both: '\\\uD800', many: '\\\\\\ud83d' };
    await store.set('t', record(60_000, tricky, { v: 4, u: 'erin' }), 60_000);
    expect(await store.set('t', record(60_000, tricky, { v: 5, u: 'erin' }), 60_000, { ifVersion: 3 })).toBe(false);
    expect(await store.set('t', record(60_000, { ...tricky, n: 1 }, { v: 5, u: 'erin' }), 60_000, { ifVersion: 4, onlyIfExists: true })).toBe(true);
    const got = await store.get('t');
    expect(got).toMatchObject({ ...tricky, n: 1, _ws: { v: 5 } });
  });

  it('keeps sub-second TTLs exact (PX), and a fractional TTL rounds up', async () => {
    const prefix = `${run}px:`;
    const store = createRedisStore(nodeRedis, { prefix });
    await store.set('p', record(250), 250.4);
    const pttl = await ioredis.pttl(`${prefix}p`);
    expect(pttl).toBeGreaterThan(200);
    expect(pttl).toBeLessThanOrEqual(251);
    await expect(store.set('q', record(1), Number.NaN)).rejects.toMatchObject({ code: 'ERR_STORE' });
  });
});

/**
 * Security reference §3 group F: huge payloads.
 *
 * Not applicable, by design: F1 and F2 are about the cookie-only mode (the whole session sealed
 * into a cookie, which browsers drop past 4096 bytes). websession keeps data server-side and
 * its cookie is only `s:<43-char ID>.<43-char MAC>` URL-encoded (about 100 bytes), whatever the
 * data; the test below named "F1-F2 counterpart" checks exactly that, and is not a stand-in
 * for the sealed-cookie boundary tests.
 *
 * F3 and F4 differ from the reference: there is no engine-level size cap (the reference suggests
 * 64 KB by default). A save that exceeds the store's own limit fails with ERR_STORE before any
 * header is sent (tested here with KV's 25 MiB value limit and a real redis-server with
 * proto-max-bulk-len 1mb), and nothing is partially written. A session of 100k keys is
 * accepted; its cost is measured, not capped (open item in docs/security.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { withSession as fetchSession } from '../../adapters/fetch.ts';
import { withSession } from '../../adapters/node.ts';
import { createMemoryStore, createSessionEngine } from '../../src/index.ts';
import { createKvStore } from '../../src/stores/kv.ts';
import { createRedisStore } from '../../src/stores/redis.ts';
import { committedPair, createKvFake, get, idOfPair, KV_MAX_VALUE, pairOf, redisServerMissing, SECRET, serveFetch, serveListener, sleep, startRedisChild, type RedisChild } from './helpers.ts';

describe('F. huge payloads', () => {
  it('F1-F2 counterpart: the session cookie is about 100 bytes whatever the data size, because data never enters it', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    const engine = createSessionEngine({ secret: SECRET, store, name: '__Host-sid', cookie: { secure: true, maxAge: 3_600_000 } });
    const sizes: number[] = [];
    for (const bytes of [0, 4096, 4097, 1_000_000]) {
      const s = engine.load({ secure: true });
      await s.set('blob', 'x'.repeat(bytes));
      const header = (await engine.commit(s)).setCookie[0]!;
      const [pair] = header.split(';', 1);
      sizes.push(decodeURIComponent(pair!).length);
      expect(header.length).toBeLessThan(300);
    }
    expect(new Set(sizes).size).toBe(1);
  });

  it('F3: a save over the store limit fails with ERR_STORE before any header (KV 25 MiB); the stored session is left as it was', async () => {
    const kv = createKvFake();
    const store = createKvStore(kv);
    const errors: unknown[] = [];
    const server = await serveFetch(async (request) => {
      try {
        return await handler(request);
      } catch (error) {
        errors.push(error);
        return new Response('store failed', { status: 500 });
      }
    });
    const handler = fetchSession(
      async (request, s) => {
        const size = Number(new URL(request.url).searchParams.get('size'));
        await s.set('blob', 'x'.repeat(size));
        return new Response('saved');
      },
      { secret: SECRET, store },
    );
    try {
      const small = await get(server.url, '/?size=10');
      expect(small.text).toBe('saved');
      const cookie = pairOf(small.setCookie, 'sid')!;
      const id = idOfPair(cookie);
      const big = await get(server.url, `/?size=${KV_MAX_VALUE + 1}`, { headers: { cookie } });
      expect({ status: big.status, setCookie: big.setCookie, body: big.text }).toEqual({ status: 500, setCookie: [], body: 'store failed' });
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'ERR_STORE', message: expect.stringContaining('25 MiB') });
      expect(((await store.get(id)) as { blob: string }).blob).toBe('x'.repeat(10));
    } finally {
      await server.close();
    }
  });

  describe.skipIf(redisServerMissing() !== undefined)(`F3 on a real redis-server${redisServerMissing() ? ` (skipped: ${redisServerMissing()})` : ''}`, () => {
    let redis: RedisChild;
    let client: ReturnType<typeof createClient>;
    beforeAll(async () => {
      redis = await startRedisChild(['--proto-max-bulk-len', '1mb']);
      client = createClient({ url: redis.url, socket: { reconnectStrategy: () => 50 } });
      client.on('error', () => {});
      await client.connect();
    });
    afterAll(async () => {
      await client?.close().catch(() => {});
      await redis?.stop();
    });

    it('F3: a 2 MB session over Redis proto-max-bulk-len (1 MB) answers 503 before any header, and the stored session is unchanged', async () => {
      const store = createRedisStore(client, { prefix: 'f3:' });
      const server = await serveListener(
        withSession(
          async (req, res, s) => {
            const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size'));
            await s.set('blob', 'x'.repeat(size));
            res.end('saved');
          },
          { secret: SECRET, store },
        ),
      );
      try {
        const small = await get(server.url, '/?size=10');
        expect(small.text).toBe('saved');
        const cookie = pairOf(small.setCookie, 'sid')!;
        const big = await get(server.url, `/?size=${2 * 1024 * 1024}`, { headers: { cookie } });
        expect({ status: big.status, setCookie: big.setCookie }).toEqual({ status: 503, setCookie: [] });
        // Redis drops the connection on a protocol error; node-redis reconnects.
        for (let i = 0; i < 100 && !client.isReady; i++) await sleep(20);
        expect(((await store.get(idOfPair(cookie))) as { blob: string }).blob).toBe('x'.repeat(10));
        const after = await get(server.url, '/?size=20', { headers: { cookie } });
        expect(after.status).toBe(200);
      } finally {
        await server.close();
      }
    });
  });

  it('F4: 100k keys in one session are not rejected (no size cap) and round-trip; the cost is linear enough to measure, not capped', async () => {
    // The reference wants a size cap and no event-loop stall above 50 ms. There is no cap: a
    // session the app fills with 100k keys is kept, and each request on it costs a few hundred
    // milliseconds of JSON work on one core (measured and printed below). Apps that store
    // attacker-sized maps in a session must bound them themselves (docs/security.md).
    const store = createMemoryStore({ sweepInterval: 0 });
    const engine = createSessionEngine({ secret: SECRET, store });
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 2);
    try {
      const s = await engine.load({ secure: true }).load();
      for (let i = 0; i < 100_000; i++) s.data[`k${i}`] = i;
      const pair = await committedPair(engine, s);
      const t0 = performance.now();
      const back = await engine.load({ cookie: pair, secure: true }).load();
      expect(Object.keys(back.data)).toHaveLength(100_000);
      await back.set('x', 1);
      await engine.commit(back);
      const elapsed = performance.now() - t0;
      await sleep(10);
      console.info(`F4: load + change + save of a 100k-key session took ${elapsed.toFixed(0)} ms; longest event-loop gap ${maxGap.toFixed(0)} ms`);
      expect((await (await engine.load({ cookie: pair, secure: true }).load()).get('k99999'))).toBe(99_999);
      expect(elapsed).toBeLessThan(15_000);
    } finally {
      clearInterval(timer);
    }
  });
});

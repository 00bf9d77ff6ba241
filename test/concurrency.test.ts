import express from 'express';
import { createClient } from 'redis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import session from '../adapters/express.ts';
import { createMemoryStore, createSessionEngine, type SessionEvent, type Store } from '../src/index.ts';
import { createRedisStore } from '../src/stores/redis.ts';
import { createSqlStore, pgQuery } from '../src/stores/sql.ts';
import { Client, listen } from './helpers/http.ts';

const SECRET = 'concurrency secret, long enough for no warning';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function request(cookie?: string): Request {
  return new Request('https://app.test/', cookie ? { headers: { cookie } } : {});
}
function cookieOf(res: Response): string | undefined {
  return res.headers.getSetCookie()[0]?.split(';')[0];
}

/** Runs the G1/G2 cases of the security reference against one store. */
function concurrencySuite(name: string, makeStore: () => Promise<Store>) {
  describe(`concurrent requests on one session (${name})`, () => {
    it('keeps every key when 100 requests each set a different key at the same time', async () => {
      const store = await makeStore();
      const events: string[] = [];
      const engine = createSessionEngine({ secret: SECRET, store, onEvent: (e: SessionEvent) => events.push(e.type) });
      const first = engine.load(request());
      await first.set('start', true);
      const cookie = cookieOf(await engine.commit(first, new Response('ok')))!;
      await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const s = engine.load(request(cookie));
          await s.load();
          await sleep(Math.random() * 20); // all 100 hold the same version before any writes
          await s.set(`k${i}`, i);
          const res = await engine.commit(s, new Response('ok'));
          expect(res.status).toBe(200);
        }),
      );
      const check = engine.load(request(cookie));
      await check.load();
      const keys = Object.keys(check.data).filter((k) => k.startsWith('k'));
      expect(keys).toHaveLength(100);
      expect(check.data.start).toBe(true);
      expect(events).toContain('merge');
    });

    it('never brings a session back when a slow request ends after a logout', async () => {
      const store = await makeStore();
      const engine = createSessionEngine({ secret: SECRET, store });
      for (let trial = 0; trial < 20; trial++) {
        const first = engine.load(request());
        await first.set('user', 'alice');
        const cookie = cookieOf(await engine.commit(first, new Response('ok')))!;
        const slow = engine.load(request(cookie));
        await slow.load();
        const logout = engine.load(request(cookie));
        await logout.destroy();
        await engine.commit(logout, new Response('bye'));
        await slow.set('late', trial);
        const res = await engine.commit(slow, new Response('late'));
        expect(res.headers.getSetCookie()).toEqual([]);
        expect(await store.get(slow.id)).toBeUndefined();
      }
    });
  });
}

concurrencySuite('memory', async () => createMemoryStore());

describe.skipIf(!process.env.REDIS_URL)('with Redis', () => {
  concurrencySuite('redis', async () => {
    const client = createClient({ url: process.env.REDIS_URL });
    await client.connect();
    cleanups.push(() => client.close());
    return createRedisStore(client, { prefix: `conc:${Date.now()}:${Math.random().toString(36).slice(2)}:` });
  });
});

describe.skipIf(!process.env.DATABASE_URL)('with PostgreSQL', () => {
  concurrencySuite('postgres', async () => {
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
    cleanups.push(() => pool.end());
    const store = createSqlStore({ dialect: 'postgres', query: pgQuery(pool), table: `conc_${Date.now()}_${Math.floor(Math.random() * 1e6)}` });
    await store.createTable();
    return store;
  });
});

describe('concurrent requests over HTTP (Express, memory store)', () => {
  it('keeps the changes of 100 parallel requests that each write a different key', async () => {
    const app = express();
    app.use(session({ secret: SECRET, resave: false, saveUninitialized: false }));
    app.get('/start', (req, res) => {
      (req.session as unknown as Record<string, unknown>).start = 1;
      res.send('ok');
    });
    app.get('/set/:i', async (req, res) => {
      await sleep(Math.random() * 20);
      (req.session as unknown as Record<string, unknown>)[`k${req.params.i}`] = Number(req.params.i);
      res.send('ok');
    });
    app.get('/count', (req, res) => {
      res.json(Object.keys(req.session as object).filter((k) => k.startsWith('k')).length);
    });
    const server = await listen(app);
    cleanups.push(() => server.close());
    const client = new Client(server.url);
    await client.request('/start');
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => client.request(`/set/${i}`)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(JSON.parse((await client.request('/count')).text_)).toBe(100);
  });
});

describe('creating a session whose ID already exists', () => {
  it('refuses to overwrite another session when genid repeats an ID (compare-and-set stores)', async () => {
    const store = createMemoryStore();
    const engine = createSessionEngine({ secret: SECRET, store, genid: () => 'the-same-id-every-time' });
    const alice = engine.load(request());
    await alice.set('user', 'alice');
    await engine.commit(alice, new Response('ok'));
    const mallory = engine.load(request());
    await mallory.set('user', 'mallory');
    await expect(engine.commit(mallory, new Response('ok'))).rejects.toMatchObject({ code: 'ERR_STATE' });
    expect((await store.get('the-same-id-every-time'))?.user).toBe('alice');
  });
});

// Runs every entry point of the INSTALLED websession package, as a consumer would: copied by
// scripts/pack-smoke.mjs into a fresh project that installed the packed tarball, and run there
// with `node consumer.mjs`. Each check does real work (requests, responses, store round trips)
// and prints one line; the exit code is the number of failed checks.
//
// REDIS_URL and DATABASE_URL (set by .ci/run) turn the Redis and SQL checks into round trips
// against the real servers; pack-smoke.mjs then installs `redis` and `pg` here too. Without
// them, and without node:sqlite (Node 20), those two checks only build a store.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const SECRET = 'pack-smoke-secret-0123456789abcdef0123456789';
let failures = 0;

async function check(entry, fn) {
  const t0 = performance.now();
  try {
    const detail = await fn();
    console.log(`  ok    ${entry.padEnd(27)} ${detail} (${Math.round(performance.now() - t0)} ms)`);
  } catch (error) {
    failures++;
    console.log(`  FAIL  ${entry.padEnd(27)} ${error?.stack ?? error}`);
  }
}

/** The `name=value` pair of the first Set-Cookie of a fetch Response. */
const cookieOf = (res) => res.headers.getSetCookie()[0]?.split(';')[0];

/** load → set → commit, then a second request with the cookie reads the value back. */
async function engineRoundTrip(createSessionEngine, store) {
  const engine = createSessionEngine({ secret: SECRET, store });
  const first = engine.load(new Request('http://app.test/'));
  await first.set('n', 41);
  const res = await engine.commit(first, new Response('ok'));
  const cookie = cookieOf(res);
  assert.match(cookie ?? '', /^sid=s%3A/, 'first response sets the signed sid cookie');
  const second = engine.load(new Request('http://app.test/', { headers: { cookie } }));
  assert.equal(await second.get('n'), 41, 'second request reads the value back');
  await second.set('n', 42);
  await engine.commit(second, new Response('ok'));
  const third = engine.load(new Request('http://app.test/', { headers: { cookie } }));
  assert.equal(await third.get('n'), 42);
  await third.destroy();
  const gone = await engine.commit(third, new Response('bye'));
  assert.match(gone.headers.getSetCookie()[0] ?? '', /Expires=Thu, 01 Jan 1970/i, 'destroy expires the cookie');
  const after = engine.load(new Request('http://app.test/', { headers: { cookie } }));
  assert.equal(await after.get('n'), undefined, 'destroyed session is gone from the store');
  return `session stored, read back, updated and destroyed (id ${second.id.length} chars)`;
}

/** Listens on 127.0.0.1:0; GET / three times with a cookie jar; expects views 1, 2, 3. */
async function httpCounter(listener, cookieName) {
  const server = createServer(listener);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/`;
  try {
    let cookie;
    const bodies = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(url, cookie ? { headers: { cookie } } : {});
      assert.equal(res.status, 200);
      bodies.push((await res.text()).trim());
      cookie = cookieOf(res) ?? cookie;
    }
    assert.deepEqual(bodies, ['views: 1', 'views: 2', 'views: 3']);
    assert.ok(cookie.startsWith(`${cookieName}=s%3A`), `cookie ${cookieName}`);
    return `${url} → ${bodies.join(', ')}`;
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

console.log(`consumer: node ${process.version}, websession ${require('websession/package.json').version}`);

const core = await import('websession');

await check('websession', async () => {
  assert.equal(typeof core.createSessionEngine, 'function');
  assert.throws(() => core.createSessionEngine({ store: core.createMemoryStore() }), (e) => e instanceof core.SessionError && e.code === 'ERR_CONFIG');
  return `ERR_CONFIG without a secret; ${await engineRoundTrip(core.createSessionEngine, core.createMemoryStore())}`;
});

await check('websession/express', async () => {
  const { default: express } = await import('express');
  const { default: session, getSession } = await import('websession/express');
  const app = express();
  app.use(session({ secret: SECRET, resave: false, saveUninitialized: false }));
  app.get('/', (req, res) => {
    assert.equal(typeof getSession(req)?.get, 'function');
    req.session.views = (req.session.views ?? 0) + 1;
    res.send(`views: ${req.session.views}`);
  });
  return `Express ${require('express/package.json').version}: ${await httpCounter(app, 'connect.sid')}`;
});

await check('websession/hono', async () => {
  const { Hono } = await import('hono');
  const { session } = await import('websession/hono');
  const app = new Hono();
  app.use(session({ secret: SECRET }));
  app.get('/', async (c) => {
    const s = c.get('session');
    const views = ((await s.get('views')) ?? 0) + 1;
    await s.set('views', views);
    return c.text(`views: ${views}`);
  });
  // app.request: a real Request through Hono's router and the middleware, Response back.
  let cookie;
  const bodies = [];
  for (let i = 0; i < 3; i++) {
    const res = await app.request('/', cookie ? { headers: { cookie } } : {});
    bodies.push(await res.text());
    cookie = cookieOf(res) ?? cookie;
  }
  assert.deepEqual(bodies, ['views: 1', 'views: 2', 'views: 3']);
  return `Hono app.request → ${bodies.join(', ')}`;
});

await check('websession/node', async () => {
  const { withSession } = await import('websession/node');
  const listener = withSession(
    async (req, res, session) => {
      const views = ((await session.get('views')) ?? 0) + 1;
      await session.set('views', views);
      res.end(`views: ${views}`);
    },
    { secret: SECRET },
  );
  assert.equal(typeof listener.engine.listSessions, 'function');
  return `node:http ${await httpCounter(listener, 'sid')}`;
});

await check('websession/fetch', async () => {
  const { withSession } = await import('websession/fetch');
  const handler = withSession(
    async (request, session) => {
      const views = ((await session.get('views')) ?? 0) + 1;
      await session.set('views', views);
      return Response.redirect(new URL(`/?views=${views}`, request.url), 303); // immutable headers
    },
    (env) => ({ secret: env.SECRET }),
  );
  const env = { SECRET };
  let cookie;
  const seen = [];
  for (let i = 0; i < 3; i++) {
    const res = await handler(new Request('https://worker.test/', cookie ? { headers: { cookie } } : {}), env, {});
    seen.push(new URL(res.headers.get('location')).searchParams.get('views'));
    cookie = cookieOf(res) ?? cookie;
  }
  assert.deepEqual(seen, ['1', '2', '3']);
  return `fetch handler (env → options, redirect responses) → views ${seen.join(', ')}`;
});

await check('websession/stores/memory', async () => {
  const { createMemoryStore } = await import('websession/stores/memory');
  const store = createMemoryStore({ maxEntries: 10 });
  return engineRoundTrip(core.createSessionEngine, store);
});

await check('websession/stores/kv', async () => {
  const { createKvStore } = await import('websession/stores/kv');
  // A KVNamespace-shaped binding over a Map (Workers KV itself is tested inside workerd).
  const map = new Map();
  const kv = {
    async get(key) {
      return map.get(key) ?? null;
    },
    async put(key, value, options) {
      assert.ok((options?.expirationTtl ?? 60) >= 60, 'expirationTtl is never below 60');
      map.set(key, value);
    },
    async delete(key) {
      map.delete(key);
    },
  };
  const detail = await engineRoundTrip(core.createSessionEngine, createKvStore(kv));
  return `${detail}; ${map.size} keys left`;
});

await check('websession/stores/redis', async () => {
  const { createRedisStore } = await import('websession/stores/redis');
  if (!process.env.REDIS_URL) {
    const store = createRedisStore({ sendRedisCommand: async () => null });
    assert.equal(typeof store.get, 'function');
    return 'store built (no REDIS_URL: no server round trip)';
  }
  const { createClient } = await import('redis');
  // No reconnect loop: a wrong REDIS_URL fails this check instead of hanging it.
  const client = createClient({ url: process.env.REDIS_URL, socket: { connectTimeout: 5000, reconnectStrategy: false } });
  client.on('error', () => {}); // connect() rejects with the same error
  await client.connect();
  try {
    const prefix = `pack-smoke:${randomUUID()}:`;
    const detail = await engineRoundTrip(core.createSessionEngine, createRedisStore(client, { prefix }));
    assert.deepEqual(await client.keys(`${prefix}*`), [], 'no keys left behind');
    return `${process.env.REDIS_URL}: ${detail}`;
  } finally {
    await client.close();
  }
});

await check('websession/stores/sql', async () => {
  const { createSqlStore, openSqlite, sqliteQuery, pgQuery } = await import('websession/stores/sql');
  const hasSqlite = await import('node:sqlite').then(
    () => true,
    () => false,
  );
  if (hasSqlite) {
    const db = await openSqlite(':memory:');
    const store = createSqlStore({ dialect: 'sqlite', query: sqliteQuery(db) });
    await store.createTable();
    const detail = await engineRoundTrip(core.createSessionEngine, store);
    db.close();
    return `node:sqlite: ${detail}`;
  }
  if (process.env.DATABASE_URL) {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
    const table = `pack_smoke_${randomUUID().replaceAll('-', '')}`;
    try {
      const store = createSqlStore({ dialect: 'postgres', query: pgQuery(pool), table });
      await store.createTable();
      return `PostgreSQL table ${table}: ${await engineRoundTrip(core.createSessionEngine, store)}`;
    } finally {
      await pool.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
      await pool.end();
    }
  }
  const store = createSqlStore({ dialect: 'postgres', query: async () => ({ rows: [] }) });
  assert.equal(typeof store.createTable, 'function');
  return 'store built (no node:sqlite on this Node and no DATABASE_URL: no database round trip)';
});

await check('websession/stores/file', async () => {
  const { createFileStore } = await import('websession/stores/file');
  const dir = mkdtempSync(join(tmpdir(), 'websession-pack-file-'));
  try {
    return `${await engineRoundTrip(core.createSessionEngine, createFileStore({ dir: join(dir, 'sessions') }))} in ${dir}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

await check('websession/stores/unstorage', async () => {
  const { fromUnstorage } = await import('websession/stores/unstorage');
  const { createStorage } = await import('unstorage');
  const storage = createStorage(); // unstorage's memory driver
  const detail = await engineRoundTrip(core.createSessionEngine, fromUnstorage(storage, { nativeTtl: false }));
  return `unstorage memory driver: ${detail}`;
});

await check('websession/stores/connect', async () => {
  const { fromConnectStore, isConnectStore } = await import('websession/stores/connect');
  const { MemoryStore } = await import('express-session');
  const connect = new MemoryStore();
  assert.ok(isConnectStore(connect));
  const detail = await engineRoundTrip(core.createSessionEngine, fromConnectStore(connect));
  return `express-session MemoryStore: ${detail}`;
});

await check('websession/testing', async () => {
  const { runStoreContract } = await import('websession/testing');
  // A minimal runner: collect the tests, then run them one by one.
  const tests = [];
  const path = [];
  const runner = {
    describe(name, fn) {
      path.push(name);
      fn();
      path.pop();
    },
    it(name, fn) {
      tests.push({ name: [...path, name].join(' > '), fn });
    },
  };
  runStoreContract('memory', () => core.createMemoryStore({ sweepInterval: 0 }), runner, { ttlMs: 150, slackMs: 100 });
  assert.ok(tests.length > 10, `the contract registered ${tests.length} tests`);
  const failed = [];
  await Promise.all(tests.map(({ name, fn }) => fn().catch((e) => failed.push(`${name}: ${e.message}`))));
  assert.deepEqual(failed, []);
  return `store contract suite on the memory store: ${tests.length} tests passed`;
});

if (failures) console.log(`consumer: ${failures} check(s) failed`);
process.exit(failures ? 1 : 0);

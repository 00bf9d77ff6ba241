/**
 * Store faults with real servers, under load (security reference §5.4 FI1, FI5, FI7, FI8 and
 * H2, shortened to seconds): real HTTP apps answer a steady stream of session-dependent requests
 * (20 concurrent loops, each with its own session) while the store underneath dies and comes
 * back. Every scenario checks the same four things:
 * - during the fault, session-dependent requests get a clear error (503 from the node adapter's
 *   default `storeErrorStatus`, 503 from the Express app's error handler), or an anonymous 200
 *   with `onStoreError: 'anonymous'`; nothing else (no 500 from a crash, no socket error);
 * - no Set-Cookie that clears the session cookie is ever sent because of the outage, so nobody
 *   is logged out by a blip;
 * - no unhandled rejection and no uncaught exception in the process;
 * - within 5 s of the store returning, every loop is answered 200 again.
 *
 * The parts:
 * - Redis: our own `redis-server` child on a free loopback port (skipped, with the reason, when
 *   the binary is missing), SIGKILLed mid-run and started again on the same port with its AOF
 *   (fsync always), so sessions from before the outage are still there afterwards. node-redis
 *   reconnects with a short backoff (reconnectStrategy) and fails fast while disconnected
 *   (disableOfflineQueue), so a request that got a 503 never writes later.
 * - PostgreSQL (DATABASE_URL; skipped without it): every backend of the app's pool is killed
 *   with pg_terminate_backend from a second connection, three times. The pool has an 'error'
 *   listener, as any pg app must (without one, a killed idle client crashes the process).
 * - Workers KV: a structural fake binding that starts throwing (the real KV runs in workerd in
 *   test/workers; workerd cannot be made to fail its binding on demand).
 * - File store: the directory stops accepting writes. As root, permission bits do not stop us
 *   (chmod 0500 has no effect on root), so: a 1 MB tmpfs is mounted and filled (ENOSPC), when
 *   a tmpfs can be mounted (root with CAP_SYS_ADMIN, as here); and a plain directory is made
 *   immutable with chattr +i, which binds root too (EPERM), or where chattr cannot, swapped for
 *   a regular file (ENOTDIR). A non-root user gets chmod 0500 (EACCES). A read-only remount of
 *   the tmpfs was tried first and dropped: under load some session file is always open for
 *   writing, so the kernel refuses the remount (EBUSY).
 * - A store whose calls never resolve: storeTimeout answers, and no deadline timer is left.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { getSession } from '../../adapters/express.ts';
import { withSession as fetchSession } from '../../adapters/fetch.ts';
import { withSession, type NodeSessionOptions } from '../../adapters/node.ts';
import { createMemoryStore, type Session, type Store } from '../../src/index.ts';
import { createFileStore } from '../../src/stores/file.ts';
import { createKvStore } from '../../src/stores/kv.ts';
import { createRedisStore } from '../../src/stores/redis.ts';
import { createSqlStore, pgQuery } from '../../src/stores/sql.ts';
import { createKvFake, DATABASE_URL, redisServerMissing, SECRET, serveFetch, serveListener, sleep, startRedisChild, trackTimers, trackUnhandled, type RedisChild, type Running } from './helpers.ts';

const LOOPS = 20;
const RECOVERY_MS = 5_000;

let unhandled: ReturnType<typeof trackUnhandled>;
beforeAll(() => {
  unhandled = trackUnhandled();
});
afterAll(() => {
  unhandled.stop();
});

/** What one loop saw. */
interface Sample {
  loop: number;
  start: number;
  end: number;
  status: number | 'network-error';
  body: string;
  setCookie: string[];
}

/** The session-dependent route every app serves: a per-session counter, and why the session is fresh if it is. */
async function count(s: Session): Promise<string> {
  const n = (((await s.get('n')) as number | undefined) ?? 0) + 1;
  await s.set('n', n);
  return `${n} ${s.freshReason ?? 'stored'}`;
}

/** A 200 from a session the store really served (not an anonymous stand-in during an outage). */
const served = (s: Sample): boolean => s.status === 200 && !s.body.endsWith('store-error');

/**
 * Runs `loops` concurrent request loops against `url` until stopped; each keeps its own cookie
 * (as a browser would: set by Set-Cookie, removed by a clearing one).
 */
function load(url: string, name: string, loops = LOOPS) {
  const samples: Sample[] = [];
  let running = true;
  const jars: string[] = Array(loops).fill('');
  const done = Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      while (running) {
        const start = performance.now();
        try {
          const res = await fetch(url, { headers: jars[loop] ? { cookie: jars[loop]! } : {}, signal: AbortSignal.timeout(4_000) });
          const body = await res.text();
          const setCookie = res.headers.getSetCookie();
          for (const c of setCookie) {
            if (!c.startsWith(`${name}=`)) continue;
            jars[loop] = /^[^=]+=;/.test(c) ? '' : c.split(';', 1)[0]!;
          }
          samples.push({ loop, start, end: performance.now(), status: res.status, body, setCookie });
        } catch {
          samples.push({ loop, start, end: performance.now(), status: 'network-error', body: '', setCookie: [] });
          await sleep(10);
        }
      }
    }),
  );
  return {
    samples,
    async stop(): Promise<void> {
      running = false;
      await done;
    },
  };
}

/** Waits until every loop got a served 200 for a request started after `since`; resolves the time it took. */
async function recovered(samples: Sample[], since: number, loops = LOOPS): Promise<number> {
  const deadline = since + RECOVERY_MS + 2_000;
  for (;;) {
    const healthy = new Set(samples.filter((s) => s.start >= since && served(s)).map((s) => s.loop));
    if (healthy.size === loops) {
      return Math.max(...[...healthy].map((loop) => samples.find((s) => s.loop === loop && s.start >= since && served(s))!.end)) - since;
    }
    if (performance.now() > deadline) return Number.POSITIVE_INFINITY;
    await sleep(25);
  }
}

/** The common verdict on a run: only the allowed statuses, no clearing cookie, no unhandled error. */
function verdict(samples: Sample[], name: string, allowed: Array<number>) {
  const statuses = new Map<string, number>();
  for (const s of samples) statuses.set(String(s.status), (statuses.get(String(s.status)) ?? 0) + 1);
  const clearing = samples.filter((s) => s.setCookie.some((c) => c.startsWith(`${name}=;`) || /Max-Age=0/.test(c)));
  return { statuses: Object.fromEntries(statuses), unexpected: [...statuses.keys()].filter((k) => !allowed.map(String).includes(k)), clearing: clearing.length };
}

/** An Express app on `store` whose error handler answers store failures with 503, as apps do. */
async function expressApp(store: Store): Promise<Running> {
  const app = express();
  app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false, storeTimeout: 500 }));
  app.get('/', async (req, res, next) => {
    try {
      res.send(await count(getSession(req)!));
    } catch (err) {
      next(err);
    }
  });
  app.use((err: { code?: string }, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (res.headersSent) return next(err);
    res.status(err.code === 'ERR_STORE' ? 503 : 500).send(err.code === 'ERR_STORE' ? 'Service Unavailable' : 'error');
  });
  return serveListener(app);
}

async function nodeApp(store: Store, options: Partial<NodeSessionOptions> = {}): Promise<Running> {
  return serveListener(withSession(async (_req, res, s) => res.end(await count(s)), { secret: SECRET, store, storeTimeout: 500, ...options }));
}

describe('store faults with real servers, under load', () => {
  describe.skipIf(redisServerMissing() !== undefined)(`Redis killed and restarted${redisServerMissing() ? ` (skipped: ${redisServerMissing()})` : ''}`, () => {
    let redis: RedisChild;
    beforeAll(async () => {
      redis = await startRedisChild(['--appendonly', 'yes', '--appendfsync', 'always']);
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('node adapter (503 and anonymous policies) and Express on the Redis store: clear errors during the outage, no logout, healthy within 5 s', async () => {
      const client = createClient({ url: redis.url, disableOfflineQueue: true, socket: { reconnectStrategy: (retries) => Math.min(25 * 2 ** retries, 250), connectTimeout: 500 } });
      client.on('error', () => {});
      await client.connect();
      const store = createRedisStore(client, { prefix: 'faults:' });
      const apps = { fail: await nodeApp(store), anonymous: await nodeApp(store, { onStoreError: 'anonymous' }), express: await expressApp(store) };
      const loads = { fail: load(apps.fail.url, 'sid', 7), anonymous: load(apps.anonymous.url, 'sid', 7), express: load(apps.express.url, 'connect.sid', 6) };
      try {
        await sleep(800);
        const killedAt = performance.now();
        await redis.kill();
        await sleep(1_200);
        await redis.start();
        const back = performance.now();
        const times = {
          fail: await recovered(loads.fail.samples, back, 7),
          anonymous: await recovered(loads.anonymous.samples, back, 7),
          express: await recovered(loads.express.samples, back, 6),
        };
        await sleep(300);
        await Promise.all(Object.values(loads).map((l) => l.stop()));
        for (const [label, time] of Object.entries(times)) expect({ label, recoveredWithin5s: time <= RECOVERY_MS }).toEqual({ label, recoveredWithin5s: true });
        // Node (default policy) and Express answer 503 while Redis is down; nothing else.
        for (const label of ['fail', 'express'] as const) {
          const v = verdict(loads[label].samples, label === 'express' ? 'connect.sid' : 'sid', [200, 503]);
          expect({ label, unexpected: v.unexpected, clearing: v.clearing }).toEqual({ label, unexpected: [], clearing: 0 });
          expect(loads[label].samples.some((s) => s.status === 503 && s.start >= killedAt)).toBe(true);
          // An error response carries no cookie at all.
          expect(loads[label].samples.filter((s) => s.status === 503 && s.setCookie.length > 0)).toEqual([]);
        }
        // Anonymous policy: reads that fail are served fresh, unsaved sessions (200, no cookie); a
        // write that fails (the record was read just before the kill) is still a 503, never lost silently.
        const anon = verdict(loads.anonymous.samples, 'sid', [200, 503]);
        expect({ unexpected: anon.unexpected, clearing: anon.clearing }).toEqual({ unexpected: [], clearing: 0 });
        expect(loads.anonymous.samples.some((s) => s.body.endsWith('store-error') && s.setCookie.length === 0)).toBe(true);
        expect(loads.anonymous.samples.filter((s) => s.body.endsWith('store-error') && s.setCookie.length > 0)).toEqual([]);
        // The AOF kept every session: after the outage each loop's counter carries on from before it.
        for (const label of ['fail', 'anonymous', 'express'] as const) {
          const samples = loads[label].samples;
          for (let loop = 0; loop < (label === 'express' ? 6 : 7); loop++) {
            const mine = samples.filter((s) => s.loop === loop && served(s));
            const before = mine.filter((s) => s.end < killedAt).map((s) => Number.parseInt(s.body, 10));
            const after = mine.filter((s) => s.start > back + times[label]).map((s) => Number.parseInt(s.body, 10));
            if (before.length > 0 && after.length > 0) expect({ label, loop, continued: after[0]! > Math.max(...before) }).toEqual({ label, loop, continued: true });
          }
        }
        expect(unhandled.errors).toEqual([]);
      } finally {
        await Promise.all(Object.values(loads).map((l) => l.stop()));
        await Promise.all(Object.values(apps).map((a) => a.close()));
        await client.close().catch(() => {});
      }
    });
  });

  describe.skipIf(!DATABASE_URL)(`PostgreSQL connections terminated${DATABASE_URL ? '' : ' (skipped: DATABASE_URL is not set)'}`, () => {
    it('node adapter and Express on the SQL store: killed backends give 503s, never a crash or a logout, and the pool recovers at once', async () => {
      const appName = `wssec_faults_${process.pid}`;
      const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 8, application_name: appName });
      const poolErrors: unknown[] = [];
      pool.on('error', (err) => poolErrors.push(err));
      const admin = new pg.Client({ connectionString: DATABASE_URL });
      await admin.connect();
      const table = `wssec_faults_${process.pid}_${Date.now().toString(36)}`;
      const store = createSqlStore({ dialect: 'postgres', query: pgQuery(pool), table });
      await store.createTable();
      const node = await nodeApp(store);
      const exp = await expressApp(store);
      const loads = [load(node.url, 'sid', 10), load(exp.url, 'connect.sid', 10)];
      try {
        await sleep(500);
        let lastKill = 0;
        for (let i = 0; i < 3; i++) {
          const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [appName]);
          expect(killed.rowCount).toBeGreaterThan(0);
          lastKill = performance.now();
          await sleep(400);
        }
        const times = [await recovered(loads[0]!.samples, lastKill, 10), await recovered(loads[1]!.samples, lastKill, 10)];
        await Promise.all(loads.map((l) => l.stop()));
        expect(times.every((t) => t <= RECOVERY_MS)).toBe(true);
        for (const [i, l] of loads.entries()) {
          const v = verdict(l.samples, i === 0 ? 'sid' : 'connect.sid', [200, 503]);
          expect({ app: i === 0 ? 'node' : 'express', unexpected: v.unexpected, clearing: v.clearing }).toEqual({ app: i === 0 ? 'node' : 'express', unexpected: [], clearing: 0 });
        }
        expect(unhandled.errors).toEqual([]);
      } finally {
        await Promise.all(loads.map((l) => l.stop()));
        await Promise.all([node.close(), exp.close()]);
        await admin.query(`DROP TABLE IF EXISTS "${table}"`).catch(() => {});
        await admin.end();
        await pool.end();
      }
    });
  });

  it('fetch adapter on a KV binding that starts throwing (structural fake): errors while it throws, no logout, healthy as soon as it stops', async () => {
    const kv = createKvFake();
    const handler = fetchSession(async (_request, s) => new Response(await count(s)), { secret: SECRET, store: createKvStore(kv, { minWriteInterval: 0 }) });
    // What a Workers/Deno/Bun host does with a thrown handler: a 500 (here 503 for store errors, as an app's wrapper would).
    const server = await serveFetch((request) => handler(request).catch((e: { code?: string }) => new Response('unavailable', { status: e.code === 'ERR_STORE' ? 503 : 500 })));
    const l = load(server.url, 'sid');
    try {
      await sleep(400);
      const failedAt = performance.now();
      kv.fail.get = new Error('KV GET failed: 500 Internal Server Error');
      kv.fail.put = new Error('KV PUT failed: 429 Too Many Requests');
      await sleep(600);
      delete kv.fail.get;
      delete kv.fail.put;
      const back = performance.now();
      const time = await recovered(l.samples, back);
      await l.stop();
      expect(time).toBeLessThanOrEqual(RECOVERY_MS);
      const v = verdict(l.samples, 'sid', [200, 503]);
      expect({ unexpected: v.unexpected, clearing: v.clearing }).toEqual({ unexpected: [], clearing: 0 });
      expect(l.samples.some((s) => s.status === 503 && s.start >= failedAt)).toBe(true);
      expect(unhandled.errors).toEqual([]);
    } finally {
      await l.stop();
      await server.close();
    }
  });

  it('file store whose directory stops taking writes (a full tmpfs; a directory made immutable, swapped for a file, or chmod 0500): 503s, no logout, healthy after', async () => {
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    const base = mkdtempSync(join(tmpdir(), 'ws-sec-faults-file-'));
    type Scenario = { name: string; dir: string; break(): void; repair(): void; cleanup(): void };
    const scenarios: Scenario[] = [];
    // 1. ENOSPC: a 1 MB tmpfs (root with CAP_SYS_ADMIN, as here and in CI), filled up.
    const tmpfs = join(base, 'tmpfs');
    mkdirSync(tmpfs);
    if (root && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', tmpfs]).status === 0) {
      scenarios.push({
        name: 'ENOSPC (tmpfs full)',
        dir: tmpfs,
        break: () => {
          try {
            writeFileSync(join(tmpfs, 'filler'), Buffer.alloc(2 * 1024 * 1024));
          } catch {
            // the tmpfs is full now, which is the point
          }
        },
        repair: () => rmSync(join(tmpfs, 'filler'), { force: true }),
        cleanup: () => void spawnSync('umount', ['-l', tmpfs]),
      });
    }
    // 2. A directory that refuses writes. Root ignores permission bits, so as root the directory is
    // made immutable (chattr +i: no file can be created, renamed or removed in it, even by root);
    // where chattr is not available, the directory is swapped for a regular file (ENOTDIR on every
    // call, reads included). A non-root user gets chmod 0500 (EACCES).
    const plain = join(base, 'plain');
    mkdirSync(plain);
    const chattr = (flag: '+i' | '-i'): boolean => spawnSync('chattr', [flag, plain]).status === 0;
    if (root && chattr('+i') && chattr('-i')) {
      scenarios.push({ name: 'EPERM (chattr +i)', dir: plain, break: () => void chattr('+i'), repair: () => void chattr('-i'), cleanup: () => void chattr('-i') });
    } else if (root) {
      scenarios.push({
        name: 'ENOTDIR (the directory swapped for a file)',
        dir: plain,
        break: () => {
          renameSync(plain, `${plain}.away`);
          writeFileSync(plain, 'not a directory');
        },
        repair: () => {
          rmSync(plain, { force: true });
          renameSync(`${plain}.away`, plain);
        },
        cleanup: () => {},
      });
    } else {
      scenarios.push({ name: 'EACCES (chmod 0500)', dir: plain, break: () => chmodSync(plain, 0o500), repair: () => chmodSync(plain, 0o700), cleanup: () => chmodSync(plain, 0o700) });
    }
    try {
      for (const scenario of scenarios) {
        const node = await nodeApp(createFileStore({ dir: scenario.dir }));
        const l = load(node.url, 'sid', 10);
        try {
          await sleep(300);
          const brokeAt = performance.now();
          scenario.break();
          // Long enough that some request both starts and ends inside the outage, also on a machine
          // busy with other suites: at least 1.2 s, then until a request started after the break
          // has come back (at most 6 s; without a 503 by then the assertion below fails).
          await sleep(1200);
          while (!l.samples.some((x) => x.start >= brokeAt && x.status === 503) && performance.now() < brokeAt + 6_000) await sleep(50);
          scenario.repair();
          const back = performance.now();
          const time = await recovered(l.samples, back, 10);
          await l.stop();
          expect({ fault: scenario.name, recoveredWithin5s: time <= RECOVERY_MS }).toEqual({ fault: scenario.name, recoveredWithin5s: true });
          expect({ fault: scenario.name, saw503: l.samples.some((x) => x.status === 503 && x.start >= brokeAt && x.end <= back) }).toEqual({ fault: scenario.name, saw503: true });
          const v = verdict(l.samples, 'sid', [200, 503]);
          expect({ fault: scenario.name, unexpected: v.unexpected, clearing: v.clearing }).toEqual({ fault: scenario.name, unexpected: [], clearing: 0 });
        } finally {
          await l.stop();
          await node.close();
        }
      }
      expect(scenarios.length).toBeGreaterThan(0);
      expect(unhandled.errors).toEqual([]);
    } finally {
      for (const scenario of scenarios) scenario.cleanup();
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('a store whose calls never resolve: storeTimeout answers 503 under load, and no deadline timer is left behind', async () => {
    const inner = createMemoryStore({ sweepInterval: 0 });
    let hang = false;
    const never = <T>(): Promise<T> => new Promise<T>(() => {});
    const store: Store = {
      capabilities: inner.capabilities,
      get: (id) => (hang ? never() : inner.get(id)),
      set: (id, r, t, c) => (hang ? never() : inner.set(id, r, t, c)),
      touch: (id, r, t) => (hang ? never() : inner.touch(id, r, t)),
      destroy: (id) => (hang ? never() : inner.destroy(id)),
    };
    // Track the engine's deadline timers (an unusual 123 ms): fired or cleared, none may stay.
    const timers = trackTimers(123);
    const node = await nodeApp(store, { storeTimeout: 123 });
    const l = load(node.url, 'sid');
    try {
      await sleep(300);
      const hungAt = performance.now();
      hang = true;
      await sleep(800);
      hang = false;
      const back = performance.now();
      const time = await recovered(l.samples, back);
      await l.stop();
      expect(time).toBeLessThanOrEqual(RECOVERY_MS);
      const during = l.samples.filter((s) => s.start >= hungAt + 5 && s.end <= back);
      expect(during.length).toBeGreaterThan(0);
      expect(during.every((s) => s.status === 503 && s.end - s.start < 1_000)).toBe(true);
      const v = verdict(l.samples, 'sid', [200, 503]);
      expect({ unexpected: v.unexpected, clearing: v.clearing }).toEqual({ unexpected: [], clearing: 0 });
      await sleep(200);
      expect(timers.live.size).toBe(0);
      expect(unhandled.errors).toEqual([]);
    } finally {
      timers.restore();
      await l.stop();
      await node.close();
    }
  });
});

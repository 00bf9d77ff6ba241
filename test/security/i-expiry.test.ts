/**
 * Security reference §3 group I: clock skew and expiry boundaries.
 *
 * Real HTTP through the node adapter and the memory store, with only `Date` faked (timers and
 * sockets stay real), so the engine and the store read the same moved clock.
 * test/session.test.ts checks the -1 ms / exact instants of cookie maxAge, idle and absolute
 * timeouts at the engine level; here they run over HTTP, past the instant too, and under jumps.
 *
 * Not applicable: I6 (a cookie-only token's `iat` in the future): websession has no cookie-only
 * mode; a cookie carries no timestamps, all of them live in the stored record.
 *
 * Differences from the reference, tested as documented (docs/security.md):
 * - I5: Max-Age is whole seconds rounded down (the cookie ends no later than the server's
 *   record), derived from `cookie.maxAge` only; it is not capped at 400 days (browsers cap it)
 *   nor at the absolute timeout (the server enforces that; a cookie that outlives its session
 *   is simply anonymous). The core default is a browser-session cookie (no Max-Age at all).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseSetCookie } from 'cookie';
import { withSession } from '../../adapters/node.ts';
import { createMemoryStore, createSessionEngine, type MemoryStore, type SessionRecord, type Store } from '../../src/index.ts';
import { createFileStore } from '../../src/stores/file.ts';
import { createKvStore } from '../../src/stores/kv.ts';
import { committedPair, createKvFake, get, idOfPair, pairOf, SECRET, serveListener, storeCases, type Running } from './helpers.ts';

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const MIN = 60_000;
const IDLE = 30 * MIN;
const ABSOLUTE = 10 * MIN;

let store: MemoryStore;
let idleServer: Running;
let absoluteServer: Running;
let rollingServer: Running;

function app(options: Record<string, unknown>): Promise<Running> {
  return serveListener(
    withSession(
      async (req, res, s) => {
        if (req.url === '/login') await s.set('user', 'alice');
        if (req.url === '/logout') await s.destroy();
        const user = req.url === '/logout' ? null : ((await s.get('user')) ?? null);
        res.end(JSON.stringify({ user }));
      },
      { secret: SECRET, store, ...options },
    ),
  );
}

beforeAll(async () => {
  store = createMemoryStore({ sweepInterval: 0 });
  idleServer = await app({ idleTimeout: IDLE, absoluteTimeout: null });
  absoluteServer = await app({ idleTimeout: 2 * MIN, absoluteTimeout: ABSOLUTE });
  rollingServer = await app({ idleTimeout: 2 * MIN, absoluteTimeout: ABSOLUTE, rolling: true, cookie: { maxAge: 5 * MIN } });
});
afterAll(async () => {
  await Promise.all([idleServer, absoluteServer, rollingServer].map((s) => s?.close()));
});
afterEach(() => {
  vi.useRealTimers();
});

const at = (ms: number): void => void vi.setSystemTime(T0 + ms);

async function login(server: Running): Promise<string> {
  return pairOf((await get(server.url, '/login')).setCookie, 'sid')!;
}

async function user(server: Running, cookie: string): Promise<unknown> {
  return (await get(server.url, '/', { headers: { cookie } })).json.user;
}

describe('I. clock skew and expiry boundaries', () => {
  it('I1: at lastSeen + idle - 1 ms the session is valid; at + idle and + idle + 1 ms it is expired (the instant is exclusive)', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    const cookies = [await login(idleServer), await login(idleServer), await login(idleServer)];
    at(IDLE - 1);
    expect(await user(idleServer, cookies[0]!)).toBe('alice');
    at(IDLE);
    expect(await user(idleServer, cookies[1]!)).toBeNull();
    at(IDLE + 1);
    expect(await user(idleServer, cookies[2]!)).toBeNull();
    // The first one was active at IDLE - 1: its deadline moved with it.
    at(2 * IDLE - 2);
    expect(await user(idleServer, cookies[0]!)).toBe('alice');
  });

  it('I2: activity every 60 s does not outlive the absolute timeout: valid at createdAt + absolute - 1 ms, expired at + absolute', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    const cookie = await login(absoluteServer);
    for (let t = MIN; t < ABSOLUTE; t += MIN) {
      at(t);
      expect(await user(absoluteServer, cookie)).toBe('alice');
    }
    at(ABSOLUTE - 1);
    expect(await user(absoluteServer, cookie)).toBe('alice');
    at(ABSOLUTE);
    expect(await user(absoluteServer, cookie)).toBeNull();
  });

  it('I3: rolling and touch on every request push the idle deadline and the cookie expiry only; createdAt never moves', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    const first = await get(rollingServer.url, '/login');
    const cookie = pairOf(first.setCookie, 'sid')!;
    const id = idOfPair(cookie);
    const expiries: number[] = [];
    for (let t = 90_000; t < ABSOLUTE; t += 90_000) {
      at(t);
      const r = await get(rollingServer.url, '/', { headers: { cookie } });
      expect(r.json.user).toBe('alice');
      expiries.push(parseSetCookie(r.setCookie[0]!).expires!.getTime());
      expect(((await store.get(id)) as SessionRecord)._ws!.c).toBe(T0);
    }
    // Each response slid the cookie (rolling) ...
    expect(expiries).toEqual([...expiries].sort((a, b) => a - b));
    expect(new Set(expiries).size).toBe(expiries.length);
    // ... but none of it moved the absolute deadline.
    at(ABSOLUTE);
    expect(await user(rollingServer, cookie)).toBeNull();
  });

  it('I4: the wall clock jumping +1 h expires sessions; jumping -1 h never revives a destroyed one and extends a live one by at most the jump', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    const live = await login(idleServer);
    const gone = await login(idleServer);
    await get(idleServer.url, '/logout', { headers: { cookie: gone } });
    at(60 * MIN);
    expect(await user(idleServer, live)).toBeNull();
    expect(await user(idleServer, gone)).toBeNull();
    // Back in time by an hour: the destroyed one stays destroyed.
    at(-60 * MIN);
    expect(await user(idleServer, gone)).toBeNull();
    // A session last seen at T0, probed (without a commit, which would move lastSeen) after the clock went back.
    at(0);
    const cookie = await login(idleServer);
    const engine = createSessionEngine({ secret: SECRET, store, idleTimeout: IDLE, absoluteTimeout: null });
    const probe = async (): Promise<boolean> => !(await engine.load({ cookie, secure: false }).load()).isNew;
    at(-60 * MIN);
    expect(await probe()).toBe(true);
    // Its deadline is still lastSeen + idle on the record's clock: one hour of wall time longer, no more.
    at(IDLE - 1);
    expect(await probe()).toBe(true);
    at(IDLE);
    expect(await probe()).toBe(false);
  });

  it('I5: Max-Age is a non-negative integer that agrees with Expires; never a float, NaN or negative', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 + 123 });
    for (const maxAge of [1, 999, 1_000, 1_500, 59_999, 60_000, 86_400_000 * 30, 86_400_000 * 1000, -5_000, 0.5]) {
      const engine = createSessionEngine({ secret: SECRET, store, cookie: { maxAge }, idleTimeout: null, absoluteTimeout: null });
      const s = engine.load({ secure: true });
      await s.set('n', 1);
      const header = (await engine.commit(s)).setCookie[0]!;
      const parsed = parseSetCookie(header);
      const m = /Max-Age=([^;]*)/.exec(header)![1]!;
      expect({ maxAge, text: m }).toEqual({ maxAge, text: expect.stringMatching(/^\d+$/) });
      expect(parsed.maxAge).toBe(Math.max(0, Math.floor(maxAge / 1000)));
      // Both say the same thing: Expires within a second of now + Max-Age, or both in the past.
      if (maxAge >= 0) expect(Math.abs(parsed.expires!.getTime() - (T0 + 123 + parsed.maxAge! * 1000))).toBeLessThan(1000);
      else expect(parsed.expires!.getTime()).toBeLessThanOrEqual(T0 + 123);
    }
    // The core default: a browser-session cookie, no Max-Age and no Expires; the server timeouts still apply.
    const engine = createSessionEngine({ secret: SECRET, store });
    const s = engine.load({ secure: true });
    await s.set('n', 1);
    const header = (await engine.commit(s)).setCookie[0]!;
    expect(header).not.toMatch(/Max-Age|Expires/);
  });

  it('I7: with the KV store an idle timeout of 30 s is stored with expirationTtl 60 (KV minimum) and still ends at 30 s', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    const kv = createKvFake();
    const engine = createSessionEngine({ secret: SECRET, store: createKvStore(kv), idleTimeout: 30_000, absoluteTimeout: null });
    const s = engine.load({ secure: true });
    await s.set('user', 'alice');
    const cookie = await committedPair(engine, s);
    expect(kv.puts.map((p) => p.expirationTtl)).toEqual([60]);
    const probe = async (): Promise<unknown> => (await engine.load({ cookie, secure: true }).load()).get('user');
    at(29_999);
    expect(await probe()).toBe('alice');
    at(30_000);
    expect(kv.map.size).toBe(1); // KV still holds it (its TTL is 60 s) ...
    expect(await probe()).toBeUndefined(); // ... the expiry inside the value ends it.
  });

  it('I8: a TTL of zero or less deletes instead of storing, on every store; the engine never hands a store a non-positive TTL', async () => {
    const record = (): SessionRecord => ({ cookie: { originalMaxAge: null, path: '/', httpOnly: true }, n: 1, _ws: { c: Date.now(), a: Date.now(), v: 1 } });
    const cases: Array<{ name: string; store: Store; cleanup(): Promise<void> }> = [];
    for (const c of storeCases().filter((x) => x.skip === undefined)) {
      const h = await c.make();
      cases.push({ name: c.name, store: h.store, cleanup: h.cleanup });
    }
    const dir = (await import('node:fs')).mkdtempSync((await import('node:path')).join((await import('node:os')).tmpdir(), 'ws-sec-i8-'));
    cases.push({ name: 'file (second dir)', store: createFileStore({ dir }), cleanup: async () => (await import('node:fs')).rmSync(dir, { recursive: true, force: true }) });
    try {
      for (const { name, store: s } of cases) {
        for (const ttl of [0, -1, -60_000]) {
          const id = `i8-${name.length}-${ttl}`.padEnd(43, 'i');
          await s.set(id, record(), 60_000);
          expect({ name, ttl, before: (await s.get(id)) !== undefined }).toEqual({ name, ttl, before: true });
          await s.set(id, record(), ttl);
          expect({ name, ttl, after: await s.get(id) }).toEqual({ name, ttl, after: undefined });
        }
      }
    } finally {
      for (const c of cases) await c.cleanup();
    }
    // A session whose absolute deadline passes during a request is saved with the smallest positive TTL, then refused.
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    const ttls: number[] = [];
    const spyStore = createMemoryStore({ sweepInterval: 0 });
    const set = spyStore.set.bind(spyStore);
    spyStore.set = async (id, rec, ttl, cond) => {
      ttls.push(ttl);
      return set(id, rec, ttl, cond);
    };
    const engine = createSessionEngine({ secret: SECRET, store: spyStore, idleTimeout: null, absoluteTimeout: 10_000 });
    const first = engine.load({ secure: true });
    await first.set('n', 1);
    const cookie = await committedPair(engine, first);
    at(9_999);
    const s = await engine.load({ cookie, secure: true }).load();
    at(10_500);
    await s.set('n', 2);
    await engine.commit(s);
    expect(ttls.every((t) => t > 0)).toBe(true);
    expect((await engine.load({ cookie, secure: true }).load()).isNew).toBe(true);
  });
});

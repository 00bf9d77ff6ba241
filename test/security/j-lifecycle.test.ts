/**
 * Security reference §3 group J: session fixation and lifecycle, over real HTTP on the node,
 * Express, Hono and fetch adapters (one shared memory store).
 *
 * test/session.test.ts checks fixation and destroy at the engine level; here every adapter
 * answers the same scenario, and the logs and error pages of a whole run are searched for IDs.
 *
 * Cookie-only parts do not apply (J4's "cookie-only: accepted until absExp" and its per-user
 * generation counter): websession has no cookie-only mode, so every logout is server-side.
 * Differences from the reference, tested as documented: the logout response gets
 * `Cache-Control: private` (the reference's R21 asks for `no-store`); the app may set its own.
 */
import express from 'express';
import { Hono } from 'hono';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import session from '../../adapters/express.ts';
import { session as honoSession } from '../../adapters/hono.ts';
import { withSession } from '../../adapters/node.ts';
import { createMemoryStore, type MemoryStore, type Store } from '../../src/index.ts';
import { cookiePair, get, idOfPair, pairOf, SECRET, serveFetch, serveListener, startTargets, type Target } from './helpers.ts';

let store: MemoryStore;
let targets: Target[];

beforeAll(async () => {
  store = createMemoryStore({ sweepInterval: 0 });
  targets = await startTargets({ store });
});
afterAll(async () => {
  await Promise.all(targets.map((t) => t.close()));
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('J. session fixation and lifecycle', () => {
  it('J1: an unsigned, wrongly signed or signed-but-unknown ID is never adopted; the store never gains it; a new ID only when the app writes', async () => {
    const planted = 'attacker-chose-this-id-0123456789abcdefghijk';
    const cookies = [`sid=${planted}`, `sid=${encodeURIComponent(`s:${planted}.${'A'.repeat(43)}`)}`, await cookiePair('sid', planted, 'another secret the attacker has, long enough'), await cookiePair('sid', planted)];
    const set = vi.spyOn(store, 'set');
    for (const t of targets) {
      for (const cookie of cookies) {
        const read = await get(t.url, '/whoami', { headers: { cookie } });
        expect({ label: t.label, cookie, isNew: read.json.isNew, setCookie: read.setCookie }).toEqual({ label: t.label, cookie, isNew: true, setCookie: [] });
        const write = await get(t.url, '/write', { headers: { cookie } });
        const issued = idOfPair(pairOf(write.setCookie, 'sid')!);
        expect(issued).not.toBe(planted);
        expect(issued).toMatch(/^[A-Za-z0-9_-]{43}$/);
      }
    }
    expect(set.mock.calls.map(([id]) => id)).not.toContain(planted);
    expect(await store.get(planted)).toBeUndefined();
    // Reads never wrote: only the 16 /write requests did.
    expect(set).toHaveBeenCalledTimes(targets.length * cookies.length);
  });

  it("J2: an attacker's planted anonymous session never carries the victim's sign-in: regenerate() at login", async () => {
    for (const t of targets) {
      const attacker = pairOf((await get(t.url, '/write')).setCookie, 'sid')!;
      // The victim's browser now sends the attacker's cookie (tossed from a sibling host) and signs in.
      const login = await get(t.url, '/login', { headers: { cookie: attacker } });
      const victim = pairOf(login.setCookie, 'sid')!;
      expect(idOfPair(victim)).not.toBe(idOfPair(attacker));
      expect((await get(t.url, '/whoami', { headers: { cookie: victim } })).json.user).toBe('alice');
      const asAttacker = await get(t.url, '/whoami', { headers: { cookie: attacker } });
      expect({ label: t.label, user: asAttacker.json.user, isNew: asAttacker.json.isNew }).toEqual({ label: t.label, user: null, isNew: true });
      expect(await store.get(idOfPair(attacker))).toBeUndefined();
    }
  });

  it("J3: a password change regenerates and, with destroyUserSessions, signs the user out of every other session", async () => {
    const shared = createMemoryStore({ sweepInterval: 0 });
    const listener = withSession(
      async (req, res, s) => {
        if (req.url === '/login') {
          await s.regenerate();
          await s.set('user', 'u1');
          await s.setUser('u1');
        } else if (req.url === '/password') {
          await s.regenerate({ keepData: true });
          await s.setUser('u1');
          await s.save();
          await listener.engine.destroyUserSessions('u1', { exceptId: s.id });
        }
        res.end(JSON.stringify({ user: (await s.get('user')) ?? null }));
      },
      { secret: SECRET, store: shared },
    );
    const server = await serveListener(listener);
    try {
      const devices = [];
      for (let i = 0; i < 4; i++) devices.push(pairOf((await get(server.url, '/login')).setCookie, 'sid')!);
      expect(await listener.engine.listSessions('u1')).toHaveLength(4);
      const changed = await get(server.url, '/password', { headers: { cookie: devices[0]! } });
      const current = pairOf(changed.setCookie, 'sid')!;
      expect(idOfPair(current)).not.toBe(idOfPair(devices[0]!));
      expect((await get(server.url, '/', { headers: { cookie: current } })).json.user).toBe('u1');
      for (const old of devices) expect((await get(server.url, '/', { headers: { cookie: old } })).json.user).toBeNull();
      expect((await listener.engine.listSessions('u1')).map((x) => x.id)).toEqual([idOfPair(current)]);
    } finally {
      await server.close();
    }
  });

  it('J4: after logout the replayed cookie is anonymous, the record is gone, and the deletion cookie mirrors every attribute with Max-Age=0 and a past Expires', async () => {
    const local = createMemoryStore({ sweepInterval: 0 });
    const strict = await startTargets({ store: local, secure: true, proxy: true, cookie: { domain: 'app.test', path: '/', sameSite: 'none', partitioned: true } });
    try {
      for (const t of strict) {
        const https = { 'x-forwarded-proto': 'https' };
        const login = await get(t.url, '/login', { headers: https });
        const issued = login.setCookie[0]!;
        const cookie = issued.split(';', 1)[0]!;
        const logout = await get(t.url, '/logout', { headers: { ...https, cookie } });
        expect({ label: t.label, setCookie: logout.setCookie }).toEqual({
          label: t.label,
          setCookie: ['sid=; Max-Age=0; Domain=app.test; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; Partitioned; SameSite=None'],
        });
        // The same attributes as the cookie it deletes (name, Domain, Path, Secure, SameSite, Partitioned).
        const attributes = (h: string) => h.split('; ').slice(1).filter((a) => !/^(Max-Age|Expires)=/.test(a)).sort();
        expect(attributes(logout.setCookie[0]!)).toEqual(attributes(issued));
        expect(logout.headers.get('cache-control')).toBe('private');
        expect(logout.headers.get('vary')).toMatch(/Cookie/);
        expect(await local.get(idOfPair(cookie))).toBeUndefined();
        const replay = await get(t.url, '/whoami', { headers: { ...https, cookie } });
        expect({ label: t.label, user: replay.json.user, isNew: replay.json.isNew }).toEqual({ label: t.label, user: null, isNew: true });
      }
    } finally {
      await Promise.all(strict.map((t) => t.close()));
    }
  });

  it("J5: a CORS preflight (OPTIONS, no cookie) gets no Set-Cookie of any kind; Express's saveUninitialized default is express-session's", async () => {
    const preflight = { method: 'OPTIONS', headers: { origin: 'https://other.test', 'access-control-request-method': 'POST' } };
    const set = vi.spyOn(store, 'set');
    for (const t of targets) {
      const r = await get(t.url, '/whoami', preflight);
      expect({ label: t.label, setCookie: r.setCookie }).toEqual({ label: t.label, setCookie: [] });
    }
    expect(set).not.toHaveBeenCalled();
    // Even with saveUninitialized on the core adapters, a route that never touches the session
    // (the usual CORS middleware answers preflights before any handler) costs nothing.
    const hono = new Hono();
    hono.use(honoSession({ secret: SECRET, store, saveUninitialized: true }));
    hono.options('*', (c) => c.body(null, 204));
    const honoServer = await serveFetch(hono.fetch);
    const nodeServer = await serveListener(withSession((req, res) => void res.end(), { secret: SECRET, store, saveUninitialized: true }));
    // express-session loads a session on every request, and saveUninitialized: true (its
    // default) stores and sends it, preflights included. The drop-in does the same; apps that
    // care set saveUninitialized: false (the core default) or mount CORS before the session.
    const app = express();
    app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: true }));
    app.options(/.*/, (_req, res) => res.sendStatus(204));
    const expressServer = await serveListener(app);
    try {
      expect((await get(honoServer.url, '/', preflight)).setCookie).toEqual([]);
      expect((await get(nodeServer.url, '/', preflight)).setCookie).toEqual([]);
      expect((await get(expressServer.url, '/', preflight)).setCookie).toHaveLength(1);
    } finally {
      await Promise.all([honoServer.close(), nodeServer.close(), expressServer.close()]);
    }
  });

  it('J6: no session ID appears in logs, error pages, events or redirect URLs, across logins, logouts, store failures and corrupt data', async () => {
    const ids = new Set<string>();
    const logged: string[] = [];
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        logged.push(args.map((a) => (a instanceof Error ? `${a.stack} ${String((a as { cause?: unknown }).cause)}` : typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
      });
    }
    let failing = false;
    const inner = createMemoryStore({ sweepInterval: 0 });
    const flaky: Store = {
      capabilities: inner.capabilities,
      get: (id) => (failing ? Promise.reject(new Error('connection reset')) : inner.get(id)),
      set: (id, r, t, c) => (failing ? Promise.reject(new Error('connection reset')) : inner.set(id, r, t, c)),
      touch: (id, r, t) => inner.touch(id, r, t),
      destroy: (id) => inner.destroy(id),
    };
    const events: unknown[] = [];
    // Defaults that log: Express in development mode (stack traces in the page and on stderr),
    // Hono's default onError (console.error), and our onEvent hook printing everything.
    const app = express();
    app.set('env', 'development');
    app.use(session({ secret: SECRET, store: flaky, resave: false, saveUninitialized: false, onEvent: (e) => console.info('event', e) }));
    app.get('/login', (req, res, next) =>
      req.session!.regenerate((err) => {
        if (err) return next(err);
        (req.session as unknown as Record<string, unknown>).user = 'alice';
        res.redirect('/home');
      }),
    );
    app.get('/boom', () => {
      throw new Error('handler failed');
    });
    app.get('/logout', (req, res, next) => req.session!.destroy((err) => (err ? next(err) : res.redirect('/'))));
    app.get(/.*/, (req, res) => res.send(`hello ${String((req.session as unknown as Record<string, unknown>)?.user)}`));
    const hono = new Hono();
    hono.use(honoSession({ secret: SECRET, store: flaky, onEvent: (e) => events.push(e) }));
    hono.get('/login', async (c) => {
      const s = c.get('session' as never) as { regenerate(): Promise<void>; set(k: string, v: unknown): Promise<void> };
      await s.regenerate();
      await s.set('user', 'alice');
      return c.redirect('/home');
    });
    hono.get('*', async (c) => c.text(String(await (c.get('session' as never) as { get(k: string): Promise<unknown> }).get('user'))));
    const servers = [await serveListener(app), await serveFetch(hono.fetch)];
    const bodies: string[] = [];
    const headers: string[] = [];
    try {
      for (const server of servers) {
        const login = await get(server.url, '/login');
        const cookie = pairOf(login.setCookie, server === servers[0] ? 'connect.sid' : 'sid')!;
        ids.add(idOfPair(cookie));
        headers.push(login.headers.get('location') ?? '');
        for (const path of ['/home', '/boom']) bodies.push((await get(server.url, path, { headers: { cookie } })).text);
        failing = true;
        for (const path of ['/home', '/login']) bodies.push((await get(server.url, path, { headers: { cookie } })).text);
        failing = false;
        await inner.set(idOfPair(cookie), { cookie: { originalMaxAge: null, path: '/a;b' } }, 60_000);
        bodies.push((await get(server.url, '/home', { headers: { cookie } })).text);
        const again = await get(server.url, '/login', { headers: { cookie } });
        const next = pairOf(again.setCookie, server === servers[0] ? 'connect.sid' : 'sid')!;
        ids.add(idOfPair(next));
        const out = await get(server.url, '/logout', { headers: { cookie: next } });
        headers.push(out.headers.get('location') ?? '');
      }
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
    expect(logged.length).toBeGreaterThan(0);
    expect(bodies.some((b) => b.includes('store get failed'))).toBe(true);
    const haystack = [...logged, ...bodies, ...headers, JSON.stringify(events, (_k, v) => (v instanceof Error ? `${v.message} ${String(v.cause)}` : v))].join('\n');
    for (const id of ids) expect(haystack.includes(id), `session ID ${id.slice(0, 6)}… found in logs or pages`).toBe(false);
  });
});

/**
 * Security reference §3 group L: response integration (streaming, HEAD, several Set-Cookie
 * headers, caching, redirects, errors), over real loopback HTTP on every adapter: node:http
 * (websession/node), Express (websession/express), Hono and fetch handlers on @hono/node-server.
 *
 * test/adapters/* check one streamed response, HEAD and the app's own cookies per adapter; here
 * every case runs on every adapter that has the feature, with the store timing the reference
 * asks about.
 *
 * Differences from the reference, tested as documented (README, docs/security.md):
 * - L1: after the headers went out, `regenerate()` throws ERR_HEADERS_SENT (the new ID could not
 *   reach the browser); `destroy()` still deletes the record server-side (the stale cookie then
 *   finds nothing), which is safer than refusing to log out.
 * - L5: an app cookie with the session cookie's name is kept, and the engine's comes after it,
 *   so the browser ends with the engine's; no de-duplication, no warning.
 * - L6: the engine adds `Cache-Control: private` only when the app set no Cache-Control, and
 *   never rewrites the app's (a `public` stays public: do not mark session responses public).
 *   `Vary: Cookie` is added to responses that carry the session cookie, appended to the app's.
 * - L9: a session changed by a handler that then throws (or answers 5xx) is still saved on the
 *   node, Express and Hono adapters, as express-session does; the fetch adapter saves nothing
 *   when the handler throws (there is no response to commit to).
 */
import express from 'express';
import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { getSession } from '../../adapters/express.ts';
import { withSession as fetchSession } from '../../adapters/fetch.ts';
import { session as honoSession } from '../../adapters/hono.ts';
import { withSession } from '../../adapters/node.ts';
import { createMemoryStore, SessionError, type MemoryStore, type Session, type SessionEvent, type Store } from '../../src/index.ts';
import { get, idOfPair, pairOf, SECRET, serveFetch, serveListener, sleep, trackUnhandled, type Running } from './helpers.ts';

/** A memory store whose writes take `delay` ms and are counted. */
function slowStore(delay = 0) {
  const inner = createMemoryStore({ sweepInterval: 0 });
  const writes: string[] = [];
  const fail = { set: undefined as unknown };
  const store: Store & { inner: MemoryStore } = {
    inner,
    capabilities: inner.capabilities,
    get: (id) => inner.get(id),
    async set(id, record, ttl, conditions) {
      await sleep(delay);
      if (fail.set) throw fail.set;
      writes.push(id);
      return inner.set(id, record, ttl, conditions);
    },
    touch: (id, record, ttl) => inner.touch(id, record, ttl),
    destroy: (id) => inner.destroy(id),
  };
  return { store, writes, fail };
}

type Label = 'node' | 'express' | 'hono' | 'fetch';
interface App extends Running {
  label: Label;
  events: SessionEvent[];
}

/**
 * The same routes on every adapter; `session(req)` gives the handle. Routes:
 * /set (n=1), /read, /redirect (set + 302), /status/:code (set + that status), /throw (set, then throw),
 * /own-cookies (app cookies + set), /same-name (app sets "sid" + set), /headers (Vary, Cache-Control + set).
 */
async function apps(store: Store, extra: Record<string, unknown> = {}): Promise<App[]> {
  const out: App[] = [];
  const opts = (events: SessionEvent[]) => ({ secret: SECRET, store, onEvent: (e: SessionEvent) => events.push(e), ...extra });
  // node
  {
    const events: SessionEvent[] = [];
    const server = await serveListener(
      withSession(async (req, res, s) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        if (path === '/read') return void res.end(String((await s.get('n')) ?? 'none'));
        await s.set('n', 1);
        if (path === '/redirect') {
          res.writeHead(302, { location: '/read' });
          return void res.end();
        }
        if (path.startsWith('/status/')) {
          res.writeHead(Number(path.slice(8)));
          return void res.end();
        }
        if (path === '/throw') throw new Error('handler failed');
        if (path === '/own-cookies') {
          res.setHeader('set-cookie', ['a=1', 'b=2']);
          res.appendHeader('set-cookie', 'c=3');
          return void res.end('ok');
        }
        if (path === '/flat') {
          res.writeHead(200, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Type', 'text/plain']);
          return void res.end('ok');
        }
        if (path === '/nested') {
          res.writeHead(200, [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']] as unknown as string[]);
          return void res.end('ok');
        }
        if (path === '/same-name') res.setHeader('set-cookie', 'sid=app-value; Path=/');
        if (path === '/headers') {
          res.setHeader('vary', 'Accept-Encoding');
          res.setHeader('cache-control', 'no-cache');
        }
        res.end('ok');
      }, opts(events)),
    );
    out.push({ label: 'node', events, ...server });
  }
  // express
  {
    const events: SessionEvent[] = [];
    const app = express();
    app.use(session({ ...opts(events), resave: false, saveUninitialized: false }));
    app.all(/.*/, (req, res) => {
      const s = req.session as unknown as Record<string, unknown>;
      if (req.path === '/read') return void res.send(String(s.n ?? 'none'));
      s.n = 1;
      if (req.path === '/redirect') return res.redirect('/read');
      if (req.path.startsWith('/status/')) return void res.status(Number(req.path.slice(8))).end();
      if (req.path === '/throw') throw new Error('handler failed');
      if (req.path === '/own-cookies') {
        res.cookie('a', '1');
        res.append('Set-Cookie', ['b=2', 'c=3']);
      }
      if (req.path === '/flat') {
        res.writeHead(200, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Type', 'text/plain']);
        return void res.end('ok');
      }
      if (req.path === '/same-name') res.cookie('connect.sid', 'app-value');
      if (req.path === '/headers') res.set({ vary: 'Accept-Encoding', 'cache-control': 'no-cache' });
      res.send('ok');
    });
    app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(500).send('error'));
    out.push({ label: 'express', events, ...(await serveListener(app)) });
  }
  // hono and fetch share a Request -> Response route
  const route = async (request: Request, s: Session): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (path === '/read') return new Response(String((await s.get('n')) ?? 'none'));
    await s.set('n', 1);
    if (path === '/redirect') return Response.redirect(new URL('/read', request.url).href, 302);
    if (path.startsWith('/status/')) return new Response(null, { status: Number(path.slice(8)) });
    if (path === '/throw') throw new Error('handler failed');
    const headers = new Headers();
    if (path === '/own-cookies') for (const c of ['a=1', 'b=2', 'c=3']) headers.append('set-cookie', c);
    if (path === '/same-name') headers.append('set-cookie', 'sid=app-value; Path=/');
    if (path === '/headers') {
      headers.set('vary', 'Accept-Encoding');
      headers.set('cache-control', 'no-cache');
    }
    return new Response('ok', { headers });
  };
  {
    const events: SessionEvent[] = [];
    const hono = new Hono();
    hono.onError((_err, c) => c.text('error', 500));
    hono.use(honoSession(opts(events)));
    hono.all('*', (c) => route(c.req.raw, c.get('session' as never)));
    out.push({ label: 'hono', events, ...(await serveFetch(hono.fetch)) });
  }
  {
    const events: SessionEvent[] = [];
    const handler = fetchSession(route, opts(events));
    out.push({ label: 'fetch', events, ...(await serveFetch((r) => handler(r).catch(() => new Response('error', { status: 500 })))) });
  }
  return out;
}

const NAME: Record<Label, string> = { node: 'sid', express: 'connect.sid', hono: 'sid', fetch: 'sid' };

let unhandled: ReturnType<typeof trackUnhandled>;
const closers: Array<() => Promise<void>> = [];
beforeAll(() => {
  unhandled = trackUnhandled();
});
afterAll(async () => {
  for (const close of closers.splice(0)) await close();
  unhandled.stop();
  expect(unhandled.errors).toEqual([]);
});

async function started(store: Store, extra?: Record<string, unknown>): Promise<App[]> {
  const list = await apps(store, extra);
  closers.push(() => Promise.all(list.map((a) => a.close())).then(() => {}));
  return list;
}

describe('L. response integration', () => {
  it('L1: once headers are out, regenerate() throws ERR_HEADERS_SENT, later data changes persist under the same ID, destroy() still deletes', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    const outcomes: Record<string, unknown> = {};
    const after = async (label: string, s: Session): Promise<void> => {
      const error = await s.regenerate().then(
        () => 'regenerated',
        (e: unknown) => (e as SessionError).code,
      );
      await s.set('late', label);
      outcomes[label] = error;
    };
    const node = await serveListener(
      withSession(async (req, res, s) => {
        if (req.url === '/login') {
          await s.set('user', 'alice');
          return void res.end('in');
        }
        if (req.url === '/logout-late') {
          await s.load();
          res.write('streaming… ');
          await s.destroy();
          return void res.end('out');
        }
        await s.load();
        res.flushHeaders();
        res.write('part ');
        await after('node', s);
        res.end('done');
      }, { secret: SECRET, store }),
    );
    const app = express();
    app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false, name: 'sid' }));
    app.get('/login', (req, res) => {
      (req.session as unknown as Record<string, unknown>).user = 'alice';
      res.send('in');
    });
    app.get('/', async (req, res) => {
      res.write('part ');
      await after('express', getSession(req)!);
      res.end('done');
    });
    const expressServer = await serveListener(app);
    const hono = new Hono();
    hono.use(honoSession({ secret: SECRET, store }));
    hono.get('/login', async (c) => {
      await (c.get('session' as never) as Session).set('user', 'alice');
      return c.text('in');
    });
    hono.get('/', (c) => {
      const s = c.get('session' as never) as Session;
      return stream(c, async (out) => {
        await out.write('part ');
        await sleep(20);
        await after('hono', s);
        await out.write('done');
      });
    });
    const honoServer = await serveFetch(hono.fetch);
    closers.push(() => Promise.all([node.close(), expressServer.close(), honoServer.close()]).then(() => {}));
    for (const [label, server] of [['node', node], ['express', expressServer], ['hono', honoServer]] as const) {
      const cookie = pairOf((await get(server.url, '/login')).setCookie, 'sid')!;
      const r = await get(server.url, '/', { headers: { cookie } });
      expect({ label, status: r.status, setCookie: r.setCookie }).toEqual({ label, status: 200, setCookie: [] });
      await sleep(30);
      expect(outcomes[label]).toBe('ERR_HEADERS_SENT');
      // Still the same session: the browser's cookie keeps working and the change after the headers was saved.
      const record = await store.get(idOfPair(cookie));
      expect({ label, user: record?.user, late: record?.late }).toEqual({ label, user: 'alice', late: label === 'hono' ? undefined : label });
    }
    // Hono commits when the handler returns a streaming Response: changes made inside the stream
    // callback after that are not saved (documented in websession/hono).
    // destroy() after the headers: no clearing cookie can follow, but the record is gone.
    const cookie = pairOf((await get(node.url, '/login')).setCookie, 'sid')!;
    await get(node.url, '/logout-late', { headers: { cookie } });
    expect(await store.get(idOfPair(cookie))).toBeUndefined();
  });

  it('L2: a save that fails after a partial write crashes nothing ("headers already sent" never happens): the error is reported once, the server keeps serving', async () => {
    const { store, fail } = slowStore();
    const events: SessionEvent[] = [];
    const errors: unknown[] = [];
    const node = await serveListener(
      withSession(async (_req, res, s) => {
        res.write('part one, ');
        await s.set('n', 1);
        res.end('part two');
      }, { secret: SECRET, store, onEvent: (e) => events.push(e) }),
    );
    const app = express();
    app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false }));
    app.get('/', (req, res) => {
      res.write('part one, ');
      (req.session as unknown as Record<string, unknown>).n = 1;
      res.end('part two');
    });
    app.use((err: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
      errors.push(err);
      next(err);
    });
    const expressServer = await serveListener(app);
    closers.push(() => Promise.all([node.close(), expressServer.close()]).then(() => {}));
    fail.set = new Error('disk full');
    // node: the 200 already started, so the connection is cut (the client sees a truncated body, never a success).
    const cut = await get(node.url, '/').then(
      (r) => r.text,
      (e: unknown) => `aborted: ${String(e)}`,
    );
    expect(cut).toMatch(/^aborted/);
    // Express: the error goes to next(err) once, after the response (express-session#499 answered twice).
    await get(expressServer.url, '/').catch(() => undefined);
    await sleep(20);
    expect(events.some((e) => e.type === 'error' && (e.error as SessionError).code === 'ERR_STORE')).toBe(true);
    expect(errors).toHaveLength(1);
    fail.set = undefined;
    expect((await get(node.url, '/')).text).toBe('part one, part two');
    expect((await get(expressServer.url, '/')).text).toBe('part one, part two');
  });

  it('L3: HEAD gets the same Set-Cookie attributes, Vary and Cache-Control as GET, and the session is saved', async () => {
    const { store, writes } = slowStore();
    for (const a of await started(store)) {
      const shape = (r: { setCookie: string[]; headers: Headers }) => ({
        cookie: r.setCookie.map((c) => c.replace(/=[^;]*/, '=<value>')),
        vary: r.headers.get('vary'),
        cacheControl: r.headers.get('cache-control'),
      });
      const viaGet = await get(a.url, '/set');
      const before = writes.length;
      const viaHead = await get(a.url, '/set', { method: 'HEAD' });
      expect({ label: a.label, head: shape(viaHead) }).toEqual({ label: a.label, head: shape(viaGet) });
      expect(viaHead.setCookie).toHaveLength(1);
      expect(writes.length).toBe(before + 1);
      expect((await get(a.url, '/read', { headers: { cookie: pairOf(viaHead.setCookie, NAME[a.label])! } })).text).toBe('1');
    }
  });

  it('L4: the app\'s own cookies (setHeader array, appendHeader, writeHead flat or nested arrays, Fetch headers) all survive: exactly n + 1 Set-Cookie', async () => {
    const { store } = slowStore();
    for (const a of await started(store)) {
      const own = await get(a.url, '/own-cookies');
      expect({ label: a.label, names: own.setCookie.map((c) => c.split('=', 1)[0]) }).toEqual({ label: a.label, names: ['a', 'b', 'c', NAME[a.label]] });
      if (a.label === 'node' || a.label === 'express') {
        const flat = await get(a.url, '/flat');
        expect({ label: a.label, names: flat.setCookie.map((c) => c.split('=', 1)[0]), type: flat.headers.get('content-type') }).toEqual({ label: a.label, names: ['a', 'b', NAME[a.label]], type: 'text/plain' });
      }
      if (a.label === 'node') {
        const nested = await get(a.url, '/nested');
        expect(nested.setCookie.map((c) => c.split('=', 1)[0])).toEqual(['a', 'b', 'sid']);
      }
    }
  });

  it("L5: an app cookie with the session cookie's name is kept, and the engine's comes last, so the browser keeps the engine's", async () => {
    const { store } = slowStore();
    for (const a of await started(store)) {
      const r = await get(a.url, '/same-name');
      const mine = r.setCookie.filter((c) => c.startsWith(`${NAME[a.label]}=`));
      expect({ label: a.label, count: mine.length, last: mine.at(-1)!.startsWith(`${NAME[a.label]}=s%3A`) }).toEqual({ label: a.label, count: 2, last: true });
      expect(r.setCookie.at(-1)).toBe(mine.at(-1));
    }
  });

  it("L6: a response carrying the cookie (a rolling refresh too) appends Vary: Cookie to the app's Vary and adds Cache-Control: private unless the app set one", async () => {
    const { store } = slowStore();
    for (const a of await started(store, { rolling: true, cookie: { maxAge: 60_000 } })) {
      const first = await get(a.url, '/set');
      expect({ label: a.label, vary: first.headers.get('vary'), cc: first.headers.get('cache-control') }).toEqual({ label: a.label, vary: 'Cookie', cc: 'private' });
      const cookie = pairOf(first.setCookie, NAME[a.label])!;
      // Only the Max-Age refresh (rolling) on a read: still Vary and private.
      const refresh = await get(a.url, '/read', { headers: { cookie } });
      expect({ label: a.label, cookies: refresh.setCookie.length, vary: refresh.headers.get('vary'), cc: refresh.headers.get('cache-control') }).toEqual({ label: a.label, cookies: 1, vary: 'Cookie', cc: 'private' });
      const appHeaders = await get(a.url, '/headers', { headers: { cookie } });
      expect({ label: a.label, vary: appHeaders.headers.get('vary'), cc: appHeaders.headers.get('cache-control') }).toEqual({ label: a.label, vary: 'Accept-Encoding, Cookie', cc: 'no-cache' });
    }
  });

  it('L7: a 302 after login, a 204 and a 304 carry the cookie, and the store write has finished before the headers arrive', async () => {
    const { store } = slowStore(40);
    for (const a of await started(store)) {
      for (const path of ['/redirect', '/status/204', '/status/304']) {
        const res = await fetch(a.url + path, { redirect: 'manual' });
        // fetch() resolves on the headers: the record must already be there.
        const pair = pairOf(res.headers.getSetCookie(), NAME[a.label]);
        expect({ label: a.label, path, cookie: pair !== undefined }).toEqual({ label: a.label, path, cookie: true });
        expect({ label: a.label, path, stored: (await store.inner.get(idOfPair(pair!))) !== undefined }).toEqual({ label: a.label, path, stored: true });
        await res.arrayBuffer();
        if (path === '/redirect') {
          const location = new URL(res.headers.get('location')!, a.url);
          expect((await get(a.url, location.pathname, { headers: { cookie: pair! } })).text).toBe('1');
        }
      }
    }
  });

  it('L8: res.end() twice, a throw after a partial write and a client abort mid-request: no crash, one save, no unhandled rejection', async () => {
    const { store, writes } = slowStore(30);
    const node = await serveListener(
      withSession(async (req, res, s) => {
        await s.set('n', 1);
        if (req.url === '/twice') {
          res.end('one');
          res.end('two');
          return;
        }
        if (req.url === '/throw') {
          res.write('partial');
          throw new Error('after write');
        }
        await sleep(100);
        res.end('slow');
      }, { secret: SECRET, store }),
    );
    const app = express();
    app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false }));
    app.get('/twice', (req, res) => {
      (req.session as unknown as Record<string, unknown>).n = 1;
      res.end('one');
      res.end('two');
    });
    app.get('/throw', (req, res) => {
      (req.session as unknown as Record<string, unknown>).n = 1;
      res.write('partial');
      throw new Error('after write');
    });
    app.get('/slow', async (req, res) => {
      (req.session as unknown as Record<string, unknown>).n = 1;
      await sleep(100);
      res.end('slow');
    });
    app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.destroy());
    const expressServer = await serveListener(app);
    closers.push(() => Promise.all([node.close(), expressServer.close()]).then(() => {}));
    for (const server of [node, expressServer]) {
      writes.length = 0;
      const twice = await get(server.url, '/twice');
      expect(twice.text).toBe('one');
      expect(writes).toHaveLength(1);
      await get(server.url, '/throw').catch(() => undefined);
      const abort = new AbortController();
      const slow = get(server.url, '/slow', { signal: abort.signal }).catch((e: unknown) => e);
      await sleep(20);
      abort.abort();
      expect(await slow).toBeInstanceOf(Error);
      await sleep(200);
      expect((await get(server.url, '/twice')).status).toBe(200);
    }
  });

  it('L9: a changed session is saved when the handler throws (node, Express, Hono, as express-session) but not by the fetch adapter; an awaited destroy stays applied', async () => {
    const { store } = slowStore();
    const list = await started(store);
    for (const a of list) {
      const first = await get(a.url, '/set');
      const cookie = pairOf(first.setCookie, NAME[a.label])!;
      const id = idOfPair(cookie);
      await store.inner.set(id, { ...(await store.inner.get(id))!, n: 0 }, 60_000);
      const thrown = await get(a.url, '/throw', { headers: { cookie } });
      expect({ label: a.label, status: thrown.status }).toEqual({ label: a.label, status: 500 });
      const saved = ((await store.inner.get(id)) as { n: number }).n;
      expect({ label: a.label, saved }).toEqual({ label: a.label, saved: a.label === 'fetch' ? 0 : 1 });
      // A 500 the handler returns is a response like any other: committed, saved.
      await store.inner.set(id, { ...(await store.inner.get(id))!, n: 0 }, 60_000);
      const five = await get(a.url, '/status/500', { headers: { cookie } });
      expect(five.status).toBe(500);
      expect(((await store.inner.get(id)) as { n: number }).n).toBe(1);
    }
    // destroy() awaited before a throw stays applied.
    const node = await serveListener(
      withSession(async (_req, _res, s) => {
        await s.destroy();
        throw new Error('after destroy');
      }, { secret: SECRET, store }),
    );
    closers.push(node.close);
    const cookie = pairOf((await get(list[0]!.url, '/set')).setCookie, 'sid')!;
    expect((await get(node.url, '/', { headers: { cookie } })).status).toBe(500);
    expect(await store.inner.get(idOfPair(cookie))).toBeUndefined();
  });
});


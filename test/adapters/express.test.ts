import cookieParser from 'cookie-parser';
import express5 from 'express';
import expressSession from 'express-session';
import { describe, expect, it, vi } from 'vitest';
import session, { getSession, type ExpressSessionOptions } from '../../adapters/express.ts';
import { createMemoryStore, createSigner } from '../../src/index.ts';
import { EXPRESS_FLAVOURS as flavours } from '../helpers/express.ts';
import { Client, clientPerTest, sessionCookies } from '../helpers/http.ts';

const SECRET = 'keyboard cat keyboard cat keyboard cat';
type AnyReq = { session?: Record<string, any> | null; sessionID?: string };

const serve = clientPerTest();

/** Routes shared by most tests. */
function routes(app: express5.Express): express5.Express {
  app.get('/views', (req: AnyReq & express5.Request, res) => {
    req.session!.views = ((req.session!.views as number) ?? 0) + 1;
    res.send(`views ${req.session!.views}`);
  });
  app.get('/read', (req: AnyReq & express5.Request, res) => {
    res.send(`views ${req.session?.views ?? 'none'} id ${req.sessionID}`);
  });
  app.get('/login', (req: AnyReq & express5.Request, res, next) => {
    req.session!.regenerate((err: unknown) => {
      if (err) return next(err);
      req.session!.user = 'alice';
      res.send(`hello ${req.sessionID}`);
    });
  });
  app.get('/logout', (req: AnyReq & express5.Request, res, next) => {
    req.session!.destroy((err: unknown) => {
      if (err) return next(err);
      res.send(`bye ${req.session === undefined ? 'unset' : 'still'}`);
    });
  });
  app.get('/stream', (req: AnyReq & express5.Request, res) => {
    req.session!.streamed = true;
    res.write('part1 ');
    setTimeout(() => {
      res.write('part2 ');
      res.end('end');
    }, 10);
  });
  app.get('/own-cookies', (req: AnyReq & express5.Request, res) => {
    req.session!.x = 1;
    res.cookie('a', '1');
    res.append('Set-Cookie', 'b=2; Path=/');
    res.send('ok');
  });
  app.get('/writehead-array', (req: AnyReq & express5.Request, res) => {
    req.session!.x = 2;
    res.writeHead(200, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Type', 'text/plain']);
    res.end('ok');
  });
  app.get('/end-callback', (req: AnyReq & express5.Request, res) => {
    req.session!.y = 1;
    res.end('done', () => {
      endCallbackRan = true;
    });
  });
  return app;
}
let endCallbackRan = false;

describe.each(flavours)('websession/express on %s', (_label, makeApp) => {
  const app = (options: ExpressSessionOptions = {}): express5.Express => {
    const a = makeApp();
    a.use(session({ secret: SECRET, resave: false, saveUninitialized: false, ...options }));
    return routes(a);
  };

  it('gives a new visitor a signed connect.sid cookie when the session is written', async () => {
    const client = await serve(app());
    const res = await client.request('/views');
    expect(res.text_).toBe('views 1');
    const [cookie] = sessionCookies(res, 'connect.sid');
    expect(cookie).toMatch(/^connect\.sid=s%3A[\w-]+\.[A-Za-z0-9%]+; Path=\/; HttpOnly$/);
    expect(res.headers.get('vary')).toMatch(/Cookie/);
    expect(res.headers.get('cache-control')).toBe('private');
  });

  it('sends no cookie and stores nothing for a new visitor whose session is not written', async () => {
    const store = createMemoryStore();
    const client = await serve(app({ store }));
    const res = await client.request('/read');
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(store.length).toBe(0);
  });

  it('shows a returning visitor their data', async () => {
    const client = await serve(app());
    await client.request('/views');
    const res = await client.request('/views');
    expect(res.text_).toBe('views 2');
    expect(sessionCookies(res, 'connect.sid')).toEqual([]);
  });

  it('gives a new ID on login and the old cookie no longer finds the session', async () => {
    const client = await serve(app());
    await client.request('/views');
    const before = client.jar.get('connect.sid');
    const res = await client.request('/login');
    const after = client.jar.get('connect.sid');
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    expect(res.text_).toMatch(/^hello /);
    const stale = await new Client(client.base).request('/read', { headers: { cookie: `connect.sid=${before}` } });
    expect(stale.text_).toMatch(/^views none/);
    expect((await client.request('/read')).text_).toMatch(/^views none/);
  });

  it('destroys the session on logout, unsets req.session and expires the cookie', async () => {
    const store = createMemoryStore();
    const client = await serve(app({ store }));
    await client.request('/views');
    const old = client.jar.get('connect.sid');
    const res = await client.request('/logout');
    expect(res.text_).toBe('bye unset');
    const [clear] = sessionCookies(res, 'connect.sid');
    expect(clear).toMatch(/^connect\.sid=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly$/);
    expect(store.length).toBe(0);
    const replay = await new Client(client.base).request('/read', { headers: { cookie: `connect.sid=${old}` } });
    expect(replay.text_).toMatch(/^views none/);
  });

  it('sets a Secure cookie behind a trusted proxy and none over plain HTTP', async () => {
    const store = createMemoryStore();
    const a = makeApp();
    a.set('trust proxy', 1);
    a.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store, cookie: { secure: true } }));
    routes(a);
    const client = await serve(a);
    const overHttps = await client.request('/views', { headers: { 'x-forwarded-proto': 'https' } });
    expect(sessionCookies(overHttps, 'connect.sid')[0]).toMatch(/; Secure/);
    expect(store.length).toBe(1);
    const overHttp = await new Client(client.base).request('/views');
    expect(overHttp.headers.getSetCookie()).toEqual([]);
    // A new session whose cookie cannot be delivered is not stored (deliberate fix 3).
    expect(store.length).toBe(1);
  });

  it('trusts X-Forwarded-Proto with proxy: true even without Express trust proxy', async () => {
    const client = await serve(app({ proxy: true, cookie: { secure: true } }));
    const res = await client.request('/views', { headers: { 'x-forwarded-proto': 'https, http' } });
    expect(sessionCookies(res, 'connect.sid')[0]).toMatch(/; Secure/);
  });

  it('accepts a cookie signed with an older secret and re-signs it with the first', async () => {
    const store = createMemoryStore();
    const oldClient = await serve(app({ store, secret: 'old secret old secret old secret!' }));
    await oldClient.request('/views');
    const oldValue = oldClient.jar.get('connect.sid')!;
    const rotated = await serve(app({ store, secret: ['new secret new secret new secret!', 'old secret old secret old secret!'] }));
    rotated.jar.set('connect.sid', oldValue);
    const res = await rotated.request('/read');
    expect(res.text_).toMatch(/^views 1/);
    const resigned = rotated.jar.get('connect.sid')!;
    expect(resigned).not.toBe(oldValue);
    const id = decodeURIComponent(oldValue).slice(2).split('.')[0]!;
    expect(decodeURIComponent(resigned)).toBe(`s:${await createSigner(['new secret new secret new secret!']).sign(id)}`);
  });

  it('treats a tampered cookie as no session without reading the store', async () => {
    const store = createMemoryStore();
    const get = vi.spyOn(store, 'get');
    const client = await serve(app({ store }));
    await client.request('/views');
    get.mockClear();
    const value = decodeURIComponent(client.jar.get('connect.sid')!);
    const tampered = value.slice(0, 5) + (value[5] === 'A' ? 'B' : 'A') + value.slice(6);
    const res = await new Client(client.base).request('/read', { headers: { cookie: `connect.sid=${encodeURIComponent(tampered)}` } });
    expect(res.text_).toMatch(/^views none/);
    expect(get).not.toHaveBeenCalled();
  });

  it('passes a failing store read to the error handler', async () => {
    const store = createMemoryStore();
    const a = app({ store });
    a.use((err: Error, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
      res.status(503).send(`store down: ${(err as { code?: string }).code}`);
    });
    const client = await serve(a);
    await client.request('/views');
    vi.spyOn(store, 'get').mockRejectedValue(new Error('connection refused'));
    const res = await client.request('/read');
    expect(res.status).toBe(503);
    expect(res.text_).toBe('store down: ERR_STORE');
  });

  it('turns a failing save into an error response instead of a 200 with a cookie', async () => {
    const store = createMemoryStore();
    vi.spyOn(store, 'set').mockRejectedValue(new Error('disk full'));
    const a = app({ store });
    a.use((err: Error, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
      res.status(500).send(`failed: ${err.message}`);
    });
    const client = await serve(a);
    const res = await client.request('/views');
    expect(res.status).toBe(500);
    expect(res.text_).toMatch(/failed: store set failed: disk full/);
    expect(sessionCookies(res, 'connect.sid')).toEqual([]);
  });

  it('gives a streamed response the cookie and saves the session before it ends', async () => {
    const client = await serve(app());
    const res = await client.request('/stream');
    expect(res.text_).toBe('part1 part2 end');
    expect(sessionCookies(res, 'connect.sid')).toHaveLength(1);
    const a2 = await client.request('/read');
    expect(a2.text_).toMatch(/^views none id/);
  });

  it('answers HEAD requests with the session cookie', async () => {
    const client = await serve(app({ saveUninitialized: true }));
    const res = await client.request('/read', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(sessionCookies(res, 'connect.sid')).toHaveLength(1);
  });

  it("keeps the app's own Set-Cookie headers", async () => {
    const client = await serve(app());
    const res = await client.request('/own-cookies');
    const all = res.headers.getSetCookie();
    expect(all).toHaveLength(3);
    expect(all[0]).toMatch(/^a=1/);
    expect(all[1]).toMatch(/^b=2/);
    expect(all[2]).toMatch(/^connect\.sid=/);
  });

  it('keeps repeated Set-Cookie values given to writeHead as a flat array', async () => {
    const client = await serve(app());
    const res = await client.request('/writehead-array');
    const all = res.headers.getSetCookie();
    expect(all.filter((c) => c === 'a=1' || c === 'b=2')).toHaveLength(2);
    expect(sessionCookies(res, 'connect.sid')).toHaveLength(1);
    expect(res.headers.get('content-type')).toBe('text/plain');
  });

  it('runs res.end callbacks', async () => {
    endCallbackRan = false;
    const client = await serve(app());
    await client.request('/end-callback');
    await vi.waitFor(() => expect(endCallbackRan).toBe(true));
  });

  it('supports save, reload and touch with callbacks and as promises', async () => {
    const store = createMemoryStore();
    const a = makeApp();
    a.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store, cookie: { maxAge: 60_000 } }));
    a.get('/ops', async (req: AnyReq & express5.Request, res) => {
      req.session!.a = 1;
      await req.session!.save();
      req.session!.a = 2;
      await new Promise<void>((resolve, reject) => req.session!.reload((err: unknown) => (err ? reject(err) : resolve())));
      const afterReload = req.session!.a;
      const before = req.session!.cookie.expires.getTime();
      await new Promise((r) => setTimeout(r, 5));
      req.session!.touch();
      res.json({ afterReload, slid: req.session!.cookie.expires.getTime() > before, maxAge: req.session!.cookie.originalMaxAge, keys: Object.keys(req.session!) });
    });
    const client = await serve(a);
    const body = JSON.parse((await client.request('/ops')).text_);
    expect(body).toEqual({ afterReload: 1, slid: true, maxAge: 60_000, keys: ['cookie', 'a'] });
  });

  it('works after cookie-parser with the same or another secret', async () => {
    for (const parserSecret of [SECRET, 'another secret entirely, not the same']) {
      const a = makeApp();
      a.use(cookieParser(parserSecret));
      a.use(session({ secret: SECRET, resave: false, saveUninitialized: false }));
      routes(a);
      const client = await serve(a);
      await client.request('/views');
      expect((await client.request('/views')).text_).toBe('views 2');
    }
  });

  it("uses cookie-parser's req.secret when no secret option is given", async () => {
    const a = makeApp();
    a.use(cookieParser(SECRET));
    a.use(session({ resave: false, saveUninitialized: false }));
    routes(a);
    const client = await serve(a);
    await client.request('/views');
    expect((await client.request('/views')).text_).toBe('views 2');
  });

  it('answers 500 when there is no secret at all, as express-session does', async () => {
    const a = makeApp();
    a.use(session({ resave: false, saveUninitialized: false }));
    routes(a);
    const client = await serve(a);
    const res = await client.request('/views');
    expect(res.status).toBe(500);
  });

  it('skips requests outside the cookie path', async () => {
    const client = await serve(app({ cookie: { path: '/admin' } }));
    const res = await client.request('/read');
    expect(res.text_).toBe('views none id undefined');
  });

  it('destroys the stored session when the app sets req.session = null with unset: destroy', async () => {
    const store = createMemoryStore();
    const a = app({ store, unset: 'destroy' });
    a.get('/unset', (req: AnyReq & express5.Request, res) => {
      req.session = null;
      res.send('unset');
    });
    const client = await serve(a);
    await client.request('/views');
    expect(store.length).toBe(1);
    const res = await client.request('/unset');
    expect(store.length).toBe(0);
    expect(sessionCookies(res, 'connect.sid')[0]).toMatch(/^connect\.sid=;/);
  });

  it('keeps the stored session when the app sets req.session = null with unset: keep', async () => {
    const store = createMemoryStore();
    const a = app({ store });
    a.get('/unset', (req: AnyReq & express5.Request, res) => {
      req.session = null;
      res.send('unset');
    });
    const client = await serve(a);
    await client.request('/views');
    const res = await client.request('/unset');
    expect(store.length).toBe(1);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect((await client.request('/views')).text_).toBe('views 2');
  });

  it('accepts cookie options as a function of the request and resolves auto values in it', async () => {
    const seen: string[] = [];
    const a = makeApp();
    a.use(
      session({
        secret: SECRET,
        resave: false,
        saveUninitialized: false,
        proxy: true,
        cookie: ((req: { url?: string }) => {
          seen.push(req.url ?? '');
          return { secure: 'auto', sameSite: 'auto', maxAge: 1000 };
        }) as never,
      }),
    );
    routes(a);
    const client = await serve(a);
    const https = await client.request('/views', { headers: { 'x-forwarded-proto': 'https' } });
    expect(sessionCookies(https, 'connect.sid')[0]).toMatch(/; Secure; SameSite=None$/);
    const http = await new Client(client.base).request('/views');
    expect(sessionCookies(http, 'connect.sid')[0]).toMatch(/; HttpOnly; SameSite=Lax$/);
    expect(seen).toContain('/views');
  });

  it("hands out no session while an express-session store reports 'disconnect', and again after 'connect'", async () => {
    const store = new expressSession.MemoryStore();
    const client = await serve(app({ store: store as never }));
    await client.request('/views');
    store.emit('disconnect');
    const down = await client.request('/read');
    expect(down.text_).toBe('views none id undefined');
    store.emit('connect');
    expect((await client.request('/read')).text_).toMatch(/^views 1 id /);
  });

  it('treats a stored record without a cookie as no session instead of failing the request', async () => {
    const store = new expressSession.MemoryStore();
    const client = await serve(app({ store: store as never }));
    await client.request('/views');
    const id = decodeURIComponent(client.jar.get('connect.sid')!).slice(2).split('.')[0]!;
    (store as unknown as { sessions: Record<string, string> }).sessions[id] = JSON.stringify({ views: 5 });
    const res = await client.request('/read');
    expect(res.status).toBe(200);
    expect(res.text_).toMatch(/^views none/);
  });

  it('keeps data keys that collide with methods out of the way, as express-session does', async () => {
    const store = createMemoryStore();
    const a = app({ store });
    a.get('/keys', (req: AnyReq & express5.Request, res) => {
      res.json({ keys: Object.keys(req.session!), save: typeof req.session!.save, json: JSON.parse(JSON.stringify(req.session)) });
    });
    const client = await serve(a);
    await client.request('/views');
    const body = JSON.parse((await client.request('/keys')).text_);
    expect(body.keys).toEqual(['cookie', 'views']);
    expect(body.save).toBe('function');
    expect(body.json.views).toBe(1);
    expect(body.json.cookie).toMatchObject({ path: '/', httpOnly: true, originalMaxAge: null });
  });

  it("lists a user's sessions and signs them out everywhere but here through the engine", async () => {
    const a = makeApp();
    const middleware = session({ secret: SECRET, resave: false, saveUninitialized: false });
    a.use(middleware);
    a.get('/signin', async (req: AnyReq & express5.Request, res) => {
      await req.session!.regenerate();
      req.session!.user = 'bob';
      await getSession(req)!.setUser('bob');
      res.send('ok');
    });
    a.get('/mine', async (req: AnyReq & express5.Request, res) => {
      const list = await middleware.engine!.listSessions('bob');
      res.json(list.map((s) => s.id === req.sessionID));
    });
    a.get('/others-out', async (req: AnyReq & express5.Request, res) => {
      res.json(await middleware.engine!.destroyUserSessions('bob', { exceptId: req.sessionID }));
    });
    routes(a);
    const laptop = await serve(a);
    const phone = new Client(laptop.base);
    await laptop.request('/signin');
    await phone.request('/signin');
    expect(JSON.parse((await laptop.request('/mine')).text_).sort()).toEqual([false, true]);
    expect(JSON.parse((await laptop.request('/others-out')).text_)).toBe(1);
    expect((await phone.request('/read')).text_).toMatch(/^views none/);
    expect(JSON.parse((await laptop.request('/mine')).text_)).toEqual([true]);
  });

  it('enforces idleTimeout on an express-session store, keeping active sessions alive', async () => {
    const store = new expressSession.MemoryStore();
    const client = await serve(app({ store: store as never, idleTimeout: 300 }));
    await client.request('/views');
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150));
      expect((await client.request('/read')).text_).toMatch(/^views 1 /);
    }
    await new Promise((r) => setTimeout(r, 400));
    expect((await client.request('/read')).text_).toMatch(/^views none/);
  });

  it('saves an object changed in place through req.session, also after a plain value was read first', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    const saves: string[] = [];
    const a = app({ store, onEvent: (e) => e.type === 'save' && saves.push(e.type) });
    a.get('/cart/new', (req: AnyReq & express5.Request, res) => {
      req.session!.user = 'alice';
      req.session!.cart = { items: ['apple'] };
      res.send('ok');
    });
    a.get('/cart/add', (req: AnyReq & express5.Request, res) => {
      // A primitive first (no copy of the data is taken for it), then an object changed in place.
      const user = req.session!.user;
      (req.session!.cart as { items: string[] }).items.push(String(req.query.item));
      res.send(`${user} ${(req.session!.cart as { items: string[] }).items.length}`);
    });
    a.get('/cart', (req: AnyReq & express5.Request, res) => {
      res.send((req.session!.cart as { items: string[] }).items.join(','));
    });
    const client = await serve(a);
    await client.request('/cart/new');
    expect((await client.request('/cart/add?item=pear')).text_).toBe('alice 2');
    expect((await client.request('/cart/add?item=plum')).text_).toBe('alice 3');
    expect((await client.request('/cart')).text_).toBe('apple,pear,plum');
    // One save per request that changed something; none for the read-only request.
    expect(saves).toHaveLength(3);
  });

  it('writes nothing back for a route that only reads plain values', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    const events: string[] = [];
    const client = await serve(app({ store, onEvent: (e) => events.push(e.type) }));
    await client.request('/views');
    events.length = 0;
    expect((await client.request('/read')).text_).toMatch(/^views 1 id /);
    expect((await client.request('/read')).text_).toMatch(/^views 1 id /);
    expect(events.filter((e) => e === 'save')).toEqual([]);
  });

  it('throws at construction for express-session option mistakes', () => {
    expect(() => session({ secret: SECRET, genid: 'x' as never })).toThrow(TypeError);
    expect(() => session({ secret: SECRET, unset: 'bogus' as never })).toThrow(TypeError);
    expect(() => session({ secret: [] })).toThrow(TypeError);
  });
});

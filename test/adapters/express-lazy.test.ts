// A visitor without a session cookie gets their session on first use (saveUninitialized: false,
// no genid), and req.session / req.sessionID / req.sessionStore are accessors on Express's
// request prototype. These tests pin what an app can see of that: the same answers as
// express-session, no work for routes that never use the session, and `delete req.session`.
import express5 from 'express';
import { describe, expect, it } from 'vitest';
import session, { getSession, type ExpressSessionOptions } from '../../adapters/express.ts';
import { createMemoryStore, type MemoryStore, type SessionEvent } from '../../src/index.ts';
import { EXPRESS_FLAVOURS as flavours } from '../helpers/express.ts';
import { clientPerTest, sessionCookies } from '../helpers/http.ts';

const SECRET = 'keyboard cat keyboard cat keyboard cat';
type AnyReq = express5.Request & { session?: Record<string, any> | null; sessionID?: string; sessionStore?: unknown };

const serve = clientPerTest();

/** A memory store that counts its calls. */
function countingStore(): MemoryStore & { calls: string[] } {
  const store = createMemoryStore();
  const calls: string[] = [];
  for (const method of ['get', 'set', 'touch', 'destroy'] as const) {
    const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
    (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      calls.push(method);
      return original(...args);
    };
  }
  return Object.assign(store, { calls });
}

describe.each(flavours)('sessions opened on first use, on %s', (_label, makeApp) => {
  const app = (options: ExpressSessionOptions = {}): express5.Express => {
    const a = makeApp();
    a.use(session({ secret: SECRET, resave: false, saveUninitialized: false, ...options }));
    return a;
  };

  it('a cookieless request whose route never touches the session makes no store call, no Set-Cookie and no create event', async () => {
    const store = countingStore();
    const events: SessionEvent['type'][] = [];
    const a = app({ store, onEvent: (e) => events.push(e.type) });
    a.get('/', (_req, res) => res.send('plain'));
    const res = await (await serve(a)).request('/');
    expect(res.text_).toBe('plain');
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(res.headers.get('vary')).toBeNull();
    expect(store.calls).toEqual([]);
    expect(events).toEqual([]);
  });

  it('a cookieless request that writes the session on first read gets it stored and a cookie', async () => {
    const store = countingStore();
    const a = app({ store });
    a.get('/', (req: AnyReq, res) => {
      req.session!.views = 1;
      res.send(`id ${req.sessionID}`);
    });
    a.get('/read', (req: AnyReq, res) => res.send(`views ${req.session!.views} id ${req.sessionID}`));
    const client = await serve(a);
    const first = await client.request('/');
    expect(sessionCookies(first, 'connect.sid')).toHaveLength(1);
    expect(store.calls).toEqual(['set']);
    const id = first.text_.slice(3);
    expect(await store.get(id)).toMatchObject({ views: 1 });
    expect((await client.request('/read')).text_).toBe(`views 1 id ${id}`);
  });

  it('req.sessionID and req.sessionStore are there before the session is read, and the ID is the one later stored', async () => {
    const store = createMemoryStore();
    const a = app({ store });
    a.get('/', (req: AnyReq, res) => {
      const before = req.sessionID;
      const sameStore = req.sessionStore === store;
      req.session!.x = 1;
      res.json({ before, after: req.sessionID, sameStore });
    });
    const res = await (await serve(a)).request('/');
    const body = JSON.parse(res.text_) as { before: string; after: string; sameStore: boolean };
    expect(body.before).toMatch(/^[\w-]{20,}$/);
    expect(body.after).toBe(body.before);
    expect(body.sameStore).toBe(true);
    expect(await store.get(body.before)).toMatchObject({ x: 1 });
  });

  it('reading req.sessionID alone stores nothing and sends no cookie', async () => {
    const store = countingStore();
    const a = app({ store });
    a.get('/', (req: AnyReq, res) => res.send(String(req.sessionID)));
    const res = await (await serve(a)).request('/');
    expect(res.text_).toMatch(/^[\w-]{20,}$/);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(store.calls).toEqual([]);
  });

  it('getSession(req) opens the session for a cookieless request, and what it sets is stored', async () => {
    const store = createMemoryStore();
    const a = app({ store });
    a.get('/', async (req: AnyReq, res) => {
      await getSession(req)!.set('via', 'handle');
      res.send(`${req.session!.via} ${req.sessionID}`);
    });
    const res = await (await serve(a)).request('/');
    const [via, id] = res.text_.split(' ');
    expect(via).toBe('handle');
    expect(await store.get(id!)).toMatchObject({ via: 'handle' });
    expect(sessionCookies(res, 'connect.sid')).toHaveLength(1);
  });

  it('req.session = null before the session was read leaves nothing to store, and req.session stays null', async () => {
    const store = countingStore();
    const a = app({ store, unset: 'destroy' });
    a.get('/', (req: AnyReq, res) => {
      req.session = null;
      res.send(String(req.session));
    });
    const res = await (await serve(a)).request('/');
    expect(res.text_).toBe('null');
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(store.calls).toEqual([]);
  });

  it('a session first read after the headers went out is still saved, without a cookie and without a crash', async () => {
    const store = createMemoryStore();
    const a = app({ store });
    a.get('/', (req: AnyReq, res) => {
      res.write('part ');
      req.session!.late = true;
      setTimeout(() => res.end(String(req.sessionID)), 5);
    });
    const res = await (await serve(a)).request('/');
    const id = res.text_.slice('part '.length);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(await store.get(id)).toMatchObject({ late: true });
  });

  it('regenerate() on a session opened on first use gives it a new ID that req.sessionID reports', async () => {
    const store = createMemoryStore();
    const a = app({ store });
    a.get('/', async (req: AnyReq, res) => {
      const before = req.sessionID;
      await req.session!.regenerate();
      req.session!.user = 'alice';
      res.json({ before, after: req.sessionID, facadeId: req.session!.id });
    });
    const res = await (await serve(a)).request('/');
    const body = JSON.parse(res.text_) as { before: string; after: string; facadeId: string };
    expect(body.after).not.toBe(body.before);
    expect(body.facadeId).toBe(body.after);
    expect(await store.get(body.after)).toMatchObject({ user: 'alice' });
    expect(await store.get(body.before)).toBeUndefined();
  });

  it('with saveUninitialized: true every new visitor is still stored at once, as with express-session', async () => {
    const store = createMemoryStore();
    const a = app({ store, saveUninitialized: true });
    a.get('/', (_req, res) => res.send('plain'));
    const res = await (await serve(a)).request('/');
    expect(sessionCookies(res, 'connect.sid')).toHaveLength(1);
    expect(store.length).toBe(1);
  });
});

describe.each(flavours)('delete req.session, on %s', (_label, makeApp) => {
  const app = (store: MemoryStore, unset: 'keep' | 'destroy'): express5.Express => {
    const a = makeApp();
    a.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store, unset }));
    a.get('/views', (req: AnyReq, res) => {
      req.session!.views = ((req.session!.views as number) ?? 0) + 1;
      res.send(`views ${req.session!.views}`);
    });
    a.get('/delete', (req: AnyReq, res) => {
      req.session!.views = 99;
      delete req.session;
      res.send(`after delete: ${String(req.session)} ${'session' in req ? 'in' : 'out'}`);
    });
    return a;
  };

  it('with unset: destroy deletes the stored session and clears the cookie', async () => {
    const store = createMemoryStore();
    const client = await serve(app(store, 'destroy'));
    await client.request('/views');
    expect(store.length).toBe(1);
    const res = await client.request('/delete');
    expect(res.text_).toMatch(/^after delete: undefined/);
    expect(store.length).toBe(0);
    expect(sessionCookies(res, 'connect.sid')[0]).toMatch(/^connect\.sid=;/);
  });

  it('with unset: keep leaves the stored session as it was, without the changes made before the delete', async () => {
    const store = createMemoryStore();
    const client = await serve(app(store, 'keep'));
    await client.request('/views');
    const res = await client.request('/delete');
    expect(res.text_).toMatch(/^after delete: undefined/);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect((await client.request('/views')).text_).toBe('views 2');
  });

  it('on a cookieless request deletes the session opened on first use, so nothing is stored', async () => {
    const store = createMemoryStore();
    const res = await (await serve(app(store, 'keep'))).request('/delete');
    expect(res.text_).toMatch(/^after delete: undefined/);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(store.length).toBe(0);
  });
});

describe.each(flavours)('the request accessors and other apps, on %s', (_label, makeApp) => {
  it('an app without the session middleware reads req.session as undefined and can assign its own', async () => {
    // One app with websession installs the accessors on the request prototype all apps share.
    const withSession = makeApp();
    withSession.use(session({ secret: SECRET, resave: false, saveUninitialized: false }));
    withSession.get('/', (req: AnyReq, res) => {
      req.session!.x = 1;
      res.send('ok');
    });
    await (await serve(withSession)).request('/');

    const other = makeApp();
    other.use((req: AnyReq, _res, next) => {
      const before = req.session;
      req.session = { mine: true };
      req.sessionID = 'custom';
      (req as AnyReq & { before?: unknown }).before = before;
      next();
    });
    other.get('/', (req: AnyReq & { before?: unknown }, res) =>
      res.json({ before: req.before ?? 'undefined', session: req.session, id: req.sessionID, own: Object.keys(req).includes('session') }),
    );
    const res = await (await serve(other)).request('/');
    expect(JSON.parse(res.text_)).toEqual({ before: 'undefined', session: { mine: true }, id: 'custom', own: true });
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('a session middleware inside a mounted sub-app leaves req.session readable in the parent app afterwards', async () => {
    const store = createMemoryStore();
    const parent = makeApp();
    const sub = makeApp();
    sub.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store }));
    sub.use((req: AnyReq, _res, next) => {
      req.session!.fromSub = true;
      next();
    });
    parent.use('/area', sub);
    parent.get('/area/page', (req: AnyReq, res) => res.send(`fromSub ${String(req.session?.fromSub)}`));
    const res = await (await serve(parent)).request('/area/page');
    expect(res.text_).toBe('fromSub true');
    expect(sessionCookies(res, 'connect.sid')).toHaveLength(1);
    expect(store.length).toBe(1);
  });

  it('a second session middleware on the same request leaves the first one in charge, as express-session does', async () => {
    const first = createMemoryStore();
    const second = createMemoryStore();
    const a = makeApp();
    a.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store: first }));
    a.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store: second }));
    a.get('/', (req: AnyReq, res) => {
      req.session!.x = 1;
      res.send('ok');
    });
    await (await serve(a)).request('/');
    expect(first.length).toBe(1);
    expect(second.length).toBe(0);
  });
});

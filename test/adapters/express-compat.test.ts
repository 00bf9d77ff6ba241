import express from 'express';
import expressSession from 'express-session';
import { describe, expect, it } from 'vitest';
import session from '../../adapters/express.ts';
import { Client, listenPerTest, sessionCookies } from '../helpers/http.ts';

// Both libraries run side by side on the same express-session MemoryStore, so the comparison
// is of the middlewares alone: same store calls, same cookies.
const SECRET = 'keyboard cat keyboard cat keyboard cat';
type Lib = 'express-session' | 'websession';
type Req = express.Request & { session?: Record<string, unknown> | null };

const listenHere = listenPerTest();

function countingStore(): { store: expressSession.MemoryStore; calls: { set: number; touch: number; destroy: number } } {
  const store = new expressSession.MemoryStore();
  const calls = { set: 0, touch: 0, destroy: 0 };
  for (const op of ['set', 'touch', 'destroy'] as const) {
    const original = store[op].bind(store) as (...args: unknown[]) => void;
    (store as unknown as Record<string, unknown>)[op] = (...args: unknown[]) => {
      calls[op]++;
      original(...args);
    };
  }
  return { store, calls };
}

async function appFor(lib: Lib, options: Record<string, unknown>, store: expressSession.Store): Promise<Client> {
  const app = express();
  const middleware = lib === 'express-session' ? expressSession({ secret: SECRET, store, ...options }) : session({ secret: SECRET, store: store as never, ...options });
  app.use(middleware as express.RequestHandler);
  app.get('/write', (req: Req, res) => {
    req.session!.n = ((req.session!.n as number) ?? 0) + 1;
    res.send(String(req.session!.n));
  });
  app.get('/read', (req: Req, res) => {
    res.send(String(req.session!.n ?? 'none'));
  });
  app.get('/regenerate-save', (req: Req, res, next) => {
    (req.session as unknown as expressSession.Session).regenerate((err) => {
      if (err) return next(err);
      req.session!.user = 'u';
      (req.session as unknown as expressSession.Session).save((e) => (e ? next(e) : res.send('ok')));
    });
  });
  const s = await listenHere(app);
  return new Client(s.url);
}

interface Outcome {
  cookie: boolean;
  set: number;
  touch: number;
}

async function run(lib: Lib, options: Record<string, unknown>, existing: boolean, path: '/write' | '/read'): Promise<Outcome> {
  const { store, calls } = countingStore();
  const client = await appFor(lib, options, store);
  if (existing) {
    await client.request('/write');
    expect(client.jar.has('connect.sid')).toBe(true);
  }
  calls.set = calls.touch = 0;
  const res = await client.request(path);
  return { cookie: sessionCookies(res, 'connect.sid').length > 0, set: calls.set, touch: calls.touch };
}

const combos: Array<[boolean, boolean, boolean]> = [];
for (const resave of [false, true]) for (const saveUninitialized of [false, true]) for (const rolling of [false, true]) combos.push([resave, saveUninitialized, rolling]);

describe('websession/express against express-session itself', () => {
  describe.each([60_000, null])('with cookie.maxAge %s', (maxAge) => {
    it.each(combos)('matches resave=%s saveUninitialized=%s rolling=%s on new, existing, modified and unmodified sessions', async (resave, saveUninitialized, rolling) => {
      const options = { resave, saveUninitialized, rolling, cookie: { maxAge } };
      for (const existing of [false, true]) {
        for (const path of ['/read', '/write'] as const) {
          const theirs = await run('express-session', options, existing, path);
          const ours = await run('websession', options, existing, path);
          expect({ existing, path, ...ours }).toEqual({ existing, path, ...theirs });
        }
      }
    });
  });

  it('writes the store once for regenerate followed by save, where express-session writes twice', async () => {
    const options = { resave: false, saveUninitialized: false };
    const counts: Record<Lib, number> = { 'express-session': 0, websession: 0 };
    for (const lib of ['express-session', 'websession'] as const) {
      const { store, calls } = countingStore();
      const client = await appFor(lib, options, store);
      await client.request('/regenerate-save');
      counts[lib] = calls.set;
    }
    expect(counts).toEqual({ 'express-session': 2, websession: 1 });
  });

  it('writes the same cookie value as express-session for the same ID and secret', async () => {
    const { store } = countingStore();
    const genid = () => 'apple';
    const options = { secret: 'keyboard cat', resave: false, saveUninitialized: true, genid };
    const ours = await appFor('websession', options, store);
    const theirs = await appFor('express-session', options, store);
    const a = await ours.request('/read');
    const b = await theirs.request('/read');
    const value = (r: Response) => sessionCookies(r, 'connect.sid')[0]!.split(';')[0];
    expect(value(a)).toBe(value(b));
    expect(value(a)).toBe('connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU');
  });

  it('lets an app switch from express-session to websession and back on the same store without logging anyone out', async () => {
    const { store } = countingStore();
    const options = { resave: false, saveUninitialized: false, cookie: { maxAge: 60_000 } };
    const theirs = await appFor('express-session', options, store);
    const ours = await appFor('websession', options, store);
    const browser = new Client(theirs.base);
    expect((await browser.request('/write')).text_).toBe('1');
    // Same browser cookie, now served by websession.
    const switched = new Client(ours.base);
    for (const [k, v] of browser.jar) switched.jar.set(k, v);
    expect((await switched.request('/write')).text_).toBe('2');
    expect((await switched.request('/read')).text_).toBe('2');
    // And back to express-session, which reads the record websession wrote.
    const back = new Client(theirs.base);
    for (const [k, v] of switched.jar) back.jar.set(k, v);
    expect((await back.request('/read')).text_).toBe('2');
    expect((await back.request('/write')).text_).toBe('3');
  });
});

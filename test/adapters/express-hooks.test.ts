// How websession/express hooks the response: once on Express's shared response prototype (under
// every app's `app.response`) when nothing replaced the methods before it, on the instance otherwise. Either way the session must
// be saved and its cookie sent, and responses without a session must be left alone.
import { ServerResponse } from 'node:http';
import express from 'express';
import { describe, expect, it } from 'vitest';
import session, { getSession } from '../../adapters/express.ts';
import { createMemoryStore } from '../../src/index.ts';
import { clientPerTest } from '../helpers/http.ts';

const SECRET = 'keyboard cat keyboard cat keyboard cat';
type Req = express.Request & { session?: Record<string, unknown> | null };

const serve = clientPerTest();

function counter(app: express.Express | express.Router): void {
  app.get('/count', (req: Req, res) => {
    req.session!.n = ((req.session!.n as number) ?? 0) + 1;
    res.send(`n ${req.session!.n}`);
  });
}

const PROTOTYPE_METHODS = ['writeHead', 'write', 'end', 'flushHeaders'] as const;
const nodeMethods = PROTOTYPE_METHODS.map((name) => ServerResponse.prototype[name]);

describe('websession/express response hooks', () => {
  it("keeps the session across requests when the methods are wrapped on Express's response prototype", async () => {
    const store = createMemoryStore();
    const app = express();
    app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false }));
    counter(app);
    const client = await serve(app);
    expect((await client.request('/count')).text_).toBe('n 1');
    expect((await client.request('/count')).text_).toBe('n 2');
    expect((await client.request('/count')).text_).toBe('n 3');
    expect(store.length).toBe(1);
    // The wrappers live on Express's response object under app.response, never on Node's ServerResponse.prototype.
    const shared = Object.getPrototypeOf(app.response) as object;
    PROTOTYPE_METHODS.forEach((name, i) => {
      expect(Object.prototype.hasOwnProperty.call(shared, name), name).toBe(true);
      expect(Object.prototype.hasOwnProperty.call(app.response, name), name).toBe(false);
      expect(ServerResponse.prototype[name], name).toBe(nodeMethods[i]);
    });
  });

  it('leaves responses of routes before the session middleware untouched on the same app', async () => {
    const app = express();
    app.get('/plain', (_req, res) => {
      res.setHeader('x-plain', '1');
      res.end('plain');
    });
    app.use(session({ secret: SECRET, resave: false, saveUninitialized: true }));
    counter(app);
    const client = await serve(app);
    await client.request('/count');
    const plain = await client.request('/plain');
    expect(plain.text_).toBe('plain');
    expect(plain.headers.get('x-plain')).toBe('1');
    expect(plain.headers.getSetCookie()).toEqual([]);
    expect(plain.headers.get('vary')).toBeNull();
  });

  it('saves the session when earlier middleware replaced res.end on the instance (compression-style)', async () => {
    const app = express();
    let wrappedCalls = 0;
    app.use((_req, res, next) => {
      const end = res.end;
      res.end = function patchedEnd(this: express.Response, ...args: unknown[]) {
        wrappedCalls++;
        return (end as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof res.end;
      next();
    });
    app.use(session({ secret: SECRET, resave: false, saveUninitialized: false }));
    counter(app);
    app.get('/who', (req, res) => res.send(getSession(req)?.id ?? 'none'));
    const client = await serve(app);
    const first = await client.request('/count');
    expect(first.text_).toBe('n 1');
    expect(first.headers.getSetCookie()).toHaveLength(1);
    expect((await client.request('/count')).text_).toBe('n 2');
    expect((await client.request('/who')).text_).toMatch(/^[\w-]{20,}$/);
    expect(wrappedCalls).toBeGreaterThanOrEqual(3);
  });

  it('saves a session written inside a mounted sub-app (Express swaps the response prototype there)', async () => {
    const app = express();
    const sub = express();
    counter(sub);
    sub.get('/who', (req, res) => res.send(getSession(req)?.id ?? 'none'));
    app.use(session({ secret: SECRET, resave: false, saveUninitialized: false }));
    app.use('/sub', sub);
    const client = await serve(app);
    const first = await client.request('/sub/count');
    expect(first.text_).toBe('n 1');
    expect(first.headers.getSetCookie()).toHaveLength(1);
    expect((await client.request('/sub/count')).text_).toBe('n 2');
    expect((await client.request('/sub/who')).text_).toMatch(/^[\w-]{20,}$/);
  });

  it('hooks two apps with their own sessions independently', async () => {
    const make = (name: string): express.Express => {
      const app = express();
      app.use(session({ secret: SECRET, name, resave: false, saveUninitialized: false }));
      counter(app);
      return app;
    };
    const a = await serve(make('a.sid'));
    const b = await serve(make('b.sid'));
    expect((await a.request('/count')).text_).toBe('n 1');
    expect((await b.request('/count')).text_).toBe('n 1');
    expect((await a.request('/count')).text_).toBe('n 2');
    expect([...a.jar.keys()]).toEqual(['a.sid']);
    expect([...b.jar.keys()]).toEqual(['b.sid']);
  });
});

/**
 * websession/hono over real HTTP: a Hono app served by @hono/node-server on 127.0.0.1:0 and
 * driven with fetch(). The last block compiles this file with the TypeScript compiler, so the
 * type-level checks in `typeChecks()` (typed `c.get('session')`) really run.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { setCookie } from 'hono/cookie';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { getSession, session, type HonoSessionOptions, type SessionVariables } from '../../adapters/hono.ts';
import { createMemoryStore, SessionError, type Session, type Store } from '../../src/index.ts';

type Data = { views: number; user: string };

const SECRET = 'hono-adapter-test-secret-0123456789abcdef';
const OLD_SECRET = 'hono-adapter-old-secret-0123456789abcdef';

/** A memory store that counts calls and can be told to fail. */
function countingStore(): { store: Store; calls: Record<'get' | 'set' | 'touch' | 'destroy', number>; fail: { get: boolean; set: boolean }; reset(): void } {
  const inner = createMemoryStore();
  const calls = { get: 0, set: 0, touch: 0, destroy: 0 };
  const fail = { get: false, set: false };
  const store: Store = {
    capabilities: inner.capabilities,
    async get(id) {
      calls.get++;
      if (fail.get) throw new Error('db down (get)');
      return inner.get(id);
    },
    async set(id, record, ttl, conditions) {
      calls.set++;
      if (fail.set) throw new Error('db down (set)');
      return inner.set(id, record, ttl, conditions);
    },
    async touch(id, record, ttl) {
      calls.touch++;
      return inner.touch!(id, record, ttl);
    },
    async destroy(id) {
      calls.destroy++;
      return inner.destroy(id);
    },
  };
  const reset = (): void => {
    for (const key of Object.keys(calls) as (keyof typeof calls)[]) calls[key] = 0;
  };
  return { store, calls, fail, reset };
}

/** The test app: one route per scenario. */
function buildApp(options: Partial<HonoSessionOptions> = {}, { onError = true } = {}): { app: Hono<{ Variables: SessionVariables<Data> }>; errors: unknown[] } {
  const app = new Hono<{ Variables: SessionVariables<Data> }>();
  const errors: unknown[] = [];
  if (onError) {
    app.onError((err, c) => {
      errors.push(err);
      return c.text('error', 500);
    });
  }
  app.use(session<Data>({ secret: SECRET, ...options }));
  app.get('/visit', async (c) => {
    const s = c.get('session');
    const views = ((await s.get('views')) ?? 0) + 1;
    await s.set('views', views);
    return c.json({ views, isNew: s.isNew, id: s.id });
  });
  app.get('/me', async (c) => {
    const s = getSession(c);
    const user = (await s.get('user')) ?? null;
    return c.json({ user, isNew: s.isNew, id: s.id });
  });
  app.post('/login', async (c) => {
    const s = c.get('session');
    await s.regenerate();
    await s.set('user', 'alice');
    return c.json({ id: s.id });
  });
  app.post('/logout', async (c) => {
    await c.get('session').destroy();
    return c.text('bye');
  });
  app.get('/static', (c) => c.text('no session here'));
  app.get('/stream', async (c) => {
    await c.get('session').set('views', 42);
    const chunks = ['one ', 'two ', 'three'];
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    return c.body(body, 200, { 'content-type': 'text/plain' });
  });
  app.get('/app-cookies', async (c) => {
    setCookie(c, 'a', '1');
    c.header('Set-Cookie', 'b=2; Path=/', { append: true });
    await c.get('session').set('views', 1);
    return c.text('ok');
  });
  app.get('/redirect', async (c) => {
    await c.get('session').set('views', 7);
    // Response.redirect() has immutable headers: the core must copy it, and the adapter must
    // hand the copy to Hono without its header merge dropping our Set-Cookie.
    return Response.redirect(new URL('/me', c.req.url).href, 302);
  });
  app.get('/proxy', async (c) => {
    await c.get('session').set('views', 9);
    // A fetch()ed response has immutable headers and, here, its own Set-Cookie and Vary: Hono's
    // c.res setter would let them overwrite ours if the adapter assigned the copy naively.
    return fetch(c.req.header('x-upstream')!);
  });
  return { app, errors };
}

/** A running server for an app. */
interface Running {
  url: string;
  close(): Promise<void>;
}

const running: Running[] = [];

async function start(app: { fetch: (request: Request) => Response | Promise<Response> }): Promise<Running> {
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  const { port } = server.address() as AddressInfo;
  const handle: Running = {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  running.push(handle);
  return handle;
}

/** One request; `cookie` is sent as the Cookie header. */
async function call(
  base: Running,
  path: string,
  { cookie, method = 'GET', headers = {} }: { cookie?: string | undefined; method?: string; headers?: Record<string, string> } = {},
): Promise<{ res: Response; body: string; setCookie: string[]; json: <T = Record<string, unknown>>() => T }> {
  const res = await fetch(base.url + path, { method, redirect: 'manual', headers: { ...headers, ...(cookie ? { cookie } : {}) } });
  const body = await res.text();
  return { res, body, setCookie: res.headers.getSetCookie(), json: <T,>() => JSON.parse(body) as T };
}

/** `name=value` of the session cookie among Set-Cookie values, or undefined. */
function sid(setCookie: string[]): string | undefined {
  return setCookie.find((c) => c.startsWith('sid='))?.split(';', 1)[0];
}

/** An upstream origin whose responses carry their own Set-Cookie and Vary, for proxying through fetch(). */
async function startUpstream(): Promise<Running> {
  const server = createServer((_req, res) => {
    res.setHeader('set-cookie', ['up=1; Path=/']);
    res.setHeader('vary', 'Accept-Encoding');
    res.setHeader('content-type', 'text/plain');
    res.end('from upstream');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle: Running = {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  running.push(handle);
  return handle;
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
  vi.restoreAllMocks();
});

describe('session (websession/hono) over HTTP', () => {
  it('gives a new visitor a signed cookie with Vary and Cache-Control, from the default memory store', async () => {
    const server = await start(buildApp().app);
    const first = await call(server, '/visit');
    expect(first.res.status).toBe(200);
    expect(first.json()).toMatchObject({ views: 1, isNew: true });
    expect(first.setCookie).toHaveLength(1);
    expect(first.setCookie[0]).toMatch(/^sid=s%3A[\w-]+\.[\w%]+; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(first.res.headers.get('vary')).toBe('Cookie');
    expect(first.res.headers.get('cache-control')).toBe('private');
  });

  it('recognises a returning visitor and sends no cookie when only data changed', async () => {
    const server = await start(buildApp().app);
    const cookie = sid((await call(server, '/visit')).setCookie);
    const second = await call(server, '/visit', { cookie });
    expect(second.json()).toMatchObject({ views: 2, isNew: false });
    expect(second.setCookie).toEqual([]);
    const third = await call(server, '/visit', { cookie });
    expect(third.json()).toMatchObject({ views: 3, isNew: false });
  });

  it('writes the session to the store once per changed request', async () => {
    const { store, calls } = countingStore();
    const server = await start(buildApp({ store }).app);
    const cookie = sid((await call(server, '/visit')).setCookie);
    expect(calls).toMatchObject({ get: 0, set: 1 });
    await call(server, '/visit', { cookie });
    expect(calls).toMatchObject({ get: 1, set: 2 });
  });

  it('regenerates the ID on login: a new cookie, and the old one no longer works', async () => {
    const server = await start(buildApp().app);
    const anonymous = await call(server, '/visit');
    const oldCookie = sid(anonymous.setCookie)!;
    const login = await call(server, '/login', { method: 'POST', cookie: oldCookie });
    const newCookie = sid(login.setCookie)!;
    expect(newCookie).toBeDefined();
    expect(login.json<{ id: string }>().id).not.toBe(anonymous.json<{ id: string }>().id);
    expect(newCookie).not.toBe(oldCookie);
    expect((await call(server, '/me', { cookie: newCookie })).json()).toMatchObject({ user: 'alice', isNew: false });
    const replay = await call(server, '/me', { cookie: oldCookie });
    expect(replay.json()).toMatchObject({ user: null, isNew: true });
  });

  it('destroys the session on logout and expires the cookie', async () => {
    const server = await start(buildApp().app);
    const cookie = sid((await call(server, '/login', { method: 'POST' })).setCookie)!;
    const logout = await call(server, '/logout', { method: 'POST', cookie });
    expect(logout.setCookie).toHaveLength(1);
    expect(logout.setCookie[0]).toMatch(/^sid=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/);
    expect((await call(server, '/me', { cookie })).json()).toMatchObject({ user: null, isNew: true });
  });

  it('marks the cookie Secure behind a trusted proxy (proxy: true + X-Forwarded-Proto: https)', async () => {
    const server = await start(buildApp({ proxy: true }).app);
    const https = await call(server, '/visit', { headers: { 'x-forwarded-proto': 'https' } });
    expect(https.setCookie[0]).toMatch(/; Secure/);
    const http = await call(server, '/visit');
    expect(http.setCookie[0]).not.toMatch(/; Secure/);
  });

  it('ignores X-Forwarded-Proto unless proxy is true', async () => {
    const server = await start(buildApp().app);
    const res = await call(server, '/visit', { headers: { 'x-forwarded-proto': 'https' } });
    expect(res.setCookie[0]).not.toMatch(/; Secure/);
  });

  it('neither sends nor stores a new session on plain http when cookie.secure is true, and reports why', async () => {
    const { store, calls } = countingStore();
    const events: string[] = [];
    const server = await start(buildApp({ store, cookie: { secure: true }, onEvent: (e) => events.push(e.type) }).app);
    const plain = await call(server, '/visit');
    expect(plain.res.status).toBe(200);
    expect(plain.setCookie).toEqual([]);
    expect(calls.set).toBe(0);
    expect(events).toEqual(['create', 'skip-undeliverable']);
    const proxied = await start(buildApp({ store, cookie: { secure: true }, proxy: true }).app);
    const secure = await call(proxied, '/visit', { headers: { 'x-forwarded-proto': 'https' } });
    expect(secure.setCookie[0]).toMatch(/; Secure/);
    expect(calls.set).toBe(1);
  });

  it('accepts a cookie signed with an older secret and re-signs it with the first one', async () => {
    const store = createMemoryStore();
    const before = await start(buildApp({ store, secret: OLD_SECRET }).app);
    const oldCookie = sid((await call(before, '/login', { method: 'POST' })).setCookie)!;
    const rotated = await start(buildApp({ store, secret: [SECRET, OLD_SECRET] }).app);
    const read = await call(rotated, '/me', { cookie: oldCookie });
    expect(read.json()).toMatchObject({ user: 'alice', isNew: false });
    const resigned = sid(read.setCookie)!;
    expect(resigned).toBeDefined();
    expect(resigned).not.toBe(oldCookie);
    // Same session ID, new signature.
    expect(resigned.split('.')[0]).toBe(oldCookie.split('.')[0]);
    const after = await start(buildApp({ store, secret: SECRET }).app);
    expect((await call(after, '/me', { cookie: resigned })).json()).toMatchObject({ user: 'alice', isNew: false });
    expect((await call(after, '/me', { cookie: oldCookie })).json()).toMatchObject({ user: null, isNew: true });
  });

  it('treats a tampered cookie as a fresh session without calling store.get', async () => {
    const { store, calls, reset } = countingStore();
    const server = await start(buildApp({ store }).app);
    const cookie = sid((await call(server, '/login', { method: 'POST' })).setCookie)!;
    const last = cookie.at(-1)!;
    const tampered = cookie.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    const unsigned = `sid=${decodeURIComponent(cookie.slice(4)).slice(2).split('.')[0]}`;
    reset();
    for (const bad of [tampered, unsigned]) {
      const res = await call(server, '/me', { cookie: bad });
      expect(res.json()).toMatchObject({ user: null, isNew: true });
      expect(res.setCookie).toEqual([]);
    }
    expect(calls.get).toBe(0);
  });

  it("answers 500 through Hono's onError when store.get rejects, with no cookie and no unhandled rejection", async () => {
    const { store, fail } = countingStore();
    const { app, errors } = buildApp({ store });
    const server = await start(app);
    const cookie = sid((await call(server, '/visit')).setCookie)!;
    fail.get = true;
    const res = await call(server, '/visit', { cookie });
    expect(res.res.status).toBe(500);
    expect(res.setCookie).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(SessionError);
    expect((errors[0] as SessionError).code).toBe('ERR_STORE');
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    // The process and the server are fine: the next request works once the store is back.
    fail.get = false;
    expect((await call(server, '/visit', { cookie })).json()).toMatchObject({ views: 2 });
  });

  it("answers 500 through Hono's onError when the end-of-request save fails, without Set-Cookie", async () => {
    const { store, fail } = countingStore();
    const { app, errors } = buildApp({ store });
    const server = await start(app);
    fail.set = true;
    const res = await call(server, '/app-cookies');
    expect(res.res.status).toBe(500);
    expect(sid(res.setCookie)).toBeUndefined();
    expect((errors[0] as SessionError).code).toBe('ERR_STORE');
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  });

  it("answers 500 from Hono's default error handler when store.get rejects", async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const { store, fail } = countingStore();
    const server = await start(buildApp({ store }, { onError: false }).app);
    const cookie = sid((await call(server, '/visit')).setCookie)!;
    fail.get = true;
    const res = await call(server, '/visit', { cookie });
    expect(res.res.status).toBe(500);
    expect(res.body).toBe('Internal Server Error');
    expect(res.setCookie).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  });

  it('saves the session and sends the cookie with a streamed (ReadableStream) response', async () => {
    const server = await start(buildApp().app);
    const streamed = await call(server, '/stream');
    expect(streamed.body).toBe('one two three');
    const cookie = sid(streamed.setCookie);
    expect(cookie).toBeDefined();
    expect((await call(server, '/visit', { cookie })).json()).toMatchObject({ views: 43, isNew: false });
  });

  it('handles a HEAD request: cookie sent, no body, session saved', async () => {
    const server = await start(buildApp().app);
    const head = await call(server, '/visit', { method: 'HEAD' });
    expect(head.res.status).toBe(200);
    expect(head.body).toBe('');
    const cookie = sid(head.setCookie);
    expect(cookie).toBeDefined();
    expect((await call(server, '/visit', { cookie })).json()).toMatchObject({ views: 2 });
  });

  it("keeps the app's own Set-Cookie headers next to the session cookie", async () => {
    const server = await start(buildApp().app);
    const res = await call(server, '/app-cookies');
    expect(res.setCookie).toHaveLength(3);
    expect(res.setCookie[0]).toBe('a=1; Path=/');
    expect(res.setCookie[1]).toBe('b=2; Path=/');
    expect(res.setCookie[2]).toMatch(/^sid=s%3A/);
  });

  it('adds the cookie to a response with immutable headers (Response.redirect)', async () => {
    const server = await start(buildApp().app);
    const res = await call(server, '/redirect');
    expect(res.res.status).toBe(302);
    expect(res.res.headers.get('location')).toBe(`${server.url}/me`);
    expect(res.res.headers.get('vary')).toBe('Cookie');
    const cookie = sid(res.setCookie);
    expect(cookie).toBeDefined();
    expect((await call(server, '/visit', { cookie })).json()).toMatchObject({ views: 8 });
  });

  it('adds the cookie to a fetch()ed response (immutable headers) and keeps its Set-Cookie and Vary', async () => {
    const upstream = await startUpstream();
    const server = await start(buildApp().app);
    const res = await call(server, '/proxy', { headers: { 'x-upstream': upstream.url } });
    expect(res.res.status).toBe(200);
    expect(res.body).toBe('from upstream');
    expect(res.setCookie).toHaveLength(2);
    expect(res.setCookie[0]).toBe('up=1; Path=/');
    const cookie = sid(res.setCookie);
    expect(cookie).toBeDefined();
    expect(res.res.headers.get('vary')).toBe('Accept-Encoding, Cookie');
    expect((await call(server, '/visit', { cookie })).json()).toMatchObject({ views: 10 });
  });

  it('makes no store call and sends no cookie on a route that never touches the session', async () => {
    const { store, calls, reset } = countingStore();
    const server = await start(buildApp({ store, rolling: true }).app);
    const cookie = sid((await call(server, '/visit')).setCookie);
    reset();
    const res = await call(server, '/static', { cookie });
    expect(res.body).toBe('no session here');
    expect(res.setCookie).toEqual([]);
    expect(res.res.headers.get('vary')).toBeNull();
    expect(calls).toEqual({ get: 0, set: 0, touch: 0, destroy: 0 });
  });

  it('throws SessionError ERR_CONFIG when the middleware is built with bad options', () => {
    expect(() => session({ secret: '' })).toThrow(SessionError);
    expect(() => session({ secret: SECRET, cookie: { sameSite: 'none', secure: false } })).toThrow(/sameSite/);
  });

  it('builds the engine from c.env lazily, once per env object, with an options function', async () => {
    type Bindings = { SECRET: string };
    const seen: Bindings[] = [];
    const app = new Hono<{ Bindings: Bindings; Variables: SessionVariables<Data> }>();
    app.use(
      session<Data, Bindings>((env) => {
        seen.push(env);
        return { secret: env.SECRET };
      }),
    );
    app.get('/visit', async (c) => {
      const s = c.get('session');
      const views = ((await s.get('views')) ?? 0) + 1;
      await s.set('views', views);
      return c.text(String(views));
    });
    expect(seen).toEqual([]);
    const env1 = { SECRET };
    const first = await app.request('/visit', {}, env1);
    const cookie = sid(first.headers.getSetCookie())!;
    expect(await (await app.request('/visit', { headers: { cookie } }, env1)).text()).toBe('2');
    expect(seen).toEqual([env1]);
    const env2 = { SECRET };
    expect(await (await app.request('/visit', { headers: { cookie } }, env2)).text()).toBe('3');
    expect(seen).toEqual([env1, env2]);
  });

  it('getSession throws ERR_STATE when the middleware did not run', async () => {
    const app = new Hono<{ Variables: SessionVariables }>();
    let code: unknown;
    app.onError((err, c) => {
      code = (err as SessionError).code;
      return c.text('no session', 500);
    });
    app.get('/', (c) => c.text(getSession(c).id));
    const res = await app.request('/');
    expect(res.status).toBe(500);
    expect(code).toBe('ERR_STATE');
  });
});

/** Type-level checks; compiled (not run) by the test below. */
export function typeChecks(): void {
  const app = new Hono<{ Variables: SessionVariables<Data> & { requestId: string } }>();
  app.use(session<Data>({ secret: SECRET }));
  app.get('/', async (c) => {
    const s = c.get('session');
    expectTypeOf(s).toEqualTypeOf<Session<Data>>();
    expectTypeOf(await s.get('views')).toEqualTypeOf<number | undefined>();
    expectTypeOf(getSession(c)).toEqualTypeOf<Session<Data>>();
    // @ts-expect-error: not a key of Data
    await s.get('nope');
    // @ts-expect-error: views is a number
    await s.set('views', 'many');
    return c.text('ok');
  });
  // Chained, the variable type comes from the middleware alone.
  new Hono().use(session<Data>({ secret: SECRET })).get('/', async (c) => {
    expectTypeOf(c.get('session')).toEqualTypeOf<Session<Data>>();
    expectTypeOf(c.var.session.data.user).toEqualTypeOf<string>();
    return c.text('ok');
  });
  // Options from the bindings (Workers).
  new Hono<{ Bindings: { SESSION_SECRET: string } }>().use(session<Data, { SESSION_SECRET: string }>((env) => ({ secret: env.SESSION_SECRET })));
  // The middleware is an ordinary Hono MiddlewareHandler.
  expectTypeOf(session({ secret: SECRET })).toBeFunction();
}

describe('websession/hono types', () => {
  it('types c.get("session") as Session<Data> (this file compiles under the project compiler options)', () => {
    const file = fileURLToPath(import.meta.url);
    const program = ts.createProgram([file], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
      types: ['node'],
      strict: true,
      noUncheckedIndexedAccess: true,
      verbatimModuleSyntax: true,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      noEmit: true,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : '';
      return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
    });
    expect(diagnostics).toEqual([]);
  }, 60_000);
});

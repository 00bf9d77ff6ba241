/**
 * websession/fetch over real HTTP: a `withSession` fetch handler served on 127.0.0.1:0 by
 * @hono/node-server's `createAdaptorServer({ fetch })` (the Request/Response bridge a
 * Workers-style handler gets on Node), driven with fetch(). Engine caching per `env` is
 * tested by calling the handler directly, as Workers, Deno and Bun do.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createAdaptorServer } from '@hono/node-server';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { withSession, type FetchSessionOptions, type SessionFetchHandler } from '../../adapters/fetch.ts';
import { createMemoryStore, SessionError, type Session, type Store } from '../../src/index.ts';

type Data = { views: number; user: string };

const SECRET = 'fetch-adapter-test-secret-0123456789abcdef';
const OLD_SECRET = 'fetch-adapter-old-secret-0123456789abcdef';

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

const json = (value: unknown): Response => Response.json(value);

/** The test app: a plain fetch handler with one route per scenario. */
const routes: SessionFetchHandler<Data> = async (request, s) => {
  const url = new URL(request.url);
  const route = `${request.method === 'HEAD' ? 'GET' : request.method} ${url.pathname}`;
  switch (route) {
    case 'GET /visit': {
      const views = ((await s.get('views')) ?? 0) + 1;
      await s.set('views', views);
      return json({ views, isNew: s.isNew, id: s.id });
    }
    case 'GET /me': {
      const user = (await s.get('user')) ?? null;
      return json({ user, isNew: s.isNew, id: s.id });
    }
    case 'POST /login':
      await s.regenerate();
      await s.set('user', 'alice');
      return json({ id: s.id });
    case 'POST /logout':
      await s.destroy();
      return new Response('bye');
    case 'GET /static':
      return new Response('no session here');
    case 'GET /stream': {
      await s.set('views', 42);
      const chunks = ['one ', 'two ', 'three'];
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          const next = chunks.shift();
          if (next === undefined) controller.close();
          else controller.enqueue(new TextEncoder().encode(next));
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/plain' } });
    }
    case 'GET /app-cookies': {
      await s.set('views', 1);
      const headers = new Headers();
      headers.append('set-cookie', 'a=1; Path=/');
      headers.append('set-cookie', 'b=2; Path=/');
      return new Response('ok', { headers });
    }
    case 'GET /redirect':
      await s.set('views', 7);
      // Immutable headers: the core copies the response to add the cookie.
      return Response.redirect(new URL('/me', url).href, 302);
    case 'GET /proxy':
      await s.set('views', 9);
      return fetch(request.headers.get('x-upstream')!);
    default:
      return new Response('not found', { status: 404 });
  }
};

/** A running server for a fetch handler, and the errors it rejected with. */
interface Running {
  url: string;
  errors: unknown[];
  close(): Promise<void>;
}

const running: Running[] = [];

async function start(options: Partial<FetchSessionOptions> = {}): Promise<Running> {
  const handler = withSession<Data>(routes, { secret: SECRET, ...options });
  const errors: unknown[] = [];
  // What a host does with a rejected handler (Workers, Deno.serve and Bun answer 500).
  const server = createAdaptorServer({
    fetch: async (request: Request) => {
      try {
        return await handler(request);
      } catch (err) {
        errors.push(err);
        return new Response('error', { status: 500 });
      }
    },
  }) as Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle: Running = {
    url: `http://127.0.0.1:${port}`,
    errors,
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
    errors: [],
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
});

describe('withSession (websession/fetch) over HTTP', () => {
  it('gives a new visitor a signed cookie with Vary and Cache-Control, from the default memory store', async () => {
    const server = await start();
    const first = await call(server, '/visit');
    expect(first.res.status).toBe(200);
    expect(first.json()).toMatchObject({ views: 1, isNew: true });
    expect(first.setCookie).toHaveLength(1);
    expect(first.setCookie[0]).toMatch(/^sid=s%3A[\w-]+\.[\w%]+; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(first.res.headers.get('vary')).toBe('Cookie');
    expect(first.res.headers.get('cache-control')).toBe('private');
  });

  it('recognises a returning visitor and sends no cookie when only data changed', async () => {
    const server = await start();
    const cookie = sid((await call(server, '/visit')).setCookie);
    const second = await call(server, '/visit', { cookie });
    expect(second.json()).toMatchObject({ views: 2, isNew: false });
    expect(second.setCookie).toEqual([]);
    expect((await call(server, '/visit', { cookie })).json()).toMatchObject({ views: 3, isNew: false });
  });

  it('writes the session to the store once per changed request', async () => {
    const { store, calls } = countingStore();
    const server = await start({ store });
    const cookie = sid((await call(server, '/visit')).setCookie);
    expect(calls).toMatchObject({ get: 0, set: 1 });
    await call(server, '/visit', { cookie });
    expect(calls).toMatchObject({ get: 1, set: 2 });
  });

  it('regenerates the ID on login: a new cookie, and the old one no longer works', async () => {
    const server = await start();
    const anonymous = await call(server, '/visit');
    const oldCookie = sid(anonymous.setCookie)!;
    const login = await call(server, '/login', { method: 'POST', cookie: oldCookie });
    const newCookie = sid(login.setCookie)!;
    expect(newCookie).toBeDefined();
    expect(newCookie).not.toBe(oldCookie);
    expect(login.json<{ id: string }>().id).not.toBe(anonymous.json<{ id: string }>().id);
    expect((await call(server, '/me', { cookie: newCookie })).json()).toMatchObject({ user: 'alice', isNew: false });
    expect((await call(server, '/me', { cookie: oldCookie })).json()).toMatchObject({ user: null, isNew: true });
  });

  it('destroys the session on logout and expires the cookie', async () => {
    const server = await start();
    const cookie = sid((await call(server, '/login', { method: 'POST' })).setCookie)!;
    const logout = await call(server, '/logout', { method: 'POST', cookie });
    expect(logout.setCookie).toHaveLength(1);
    expect(logout.setCookie[0]).toMatch(/^sid=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/);
    expect((await call(server, '/me', { cookie })).json()).toMatchObject({ user: null, isNew: true });
  });

  it('marks the cookie Secure behind a trusted proxy (proxy: true + X-Forwarded-Proto: https)', async () => {
    const server = await start({ proxy: true });
    expect((await call(server, '/visit', { headers: { 'x-forwarded-proto': 'https' } })).setCookie[0]).toMatch(/; Secure/);
    expect((await call(server, '/visit')).setCookie[0]).not.toMatch(/; Secure/);
  });

  it('ignores X-Forwarded-Proto unless proxy is true', async () => {
    const server = await start();
    expect((await call(server, '/visit', { headers: { 'x-forwarded-proto': 'https' } })).setCookie[0]).not.toMatch(/; Secure/);
  });

  it('neither sends nor stores a new session on plain http when cookie.secure is true', async () => {
    const { store, calls } = countingStore();
    const plain = await call(await start({ store, cookie: { secure: true } }), '/visit');
    expect(plain.res.status).toBe(200);
    expect(plain.setCookie).toEqual([]);
    expect(calls.set).toBe(0);
    const proxied = await start({ store, cookie: { secure: true }, proxy: true });
    expect((await call(proxied, '/visit', { headers: { 'x-forwarded-proto': 'https' } })).setCookie[0]).toMatch(/; Secure/);
    expect(calls.set).toBe(1);
  });

  it('accepts a cookie signed with an older secret and re-signs it with the first one', async () => {
    const store = createMemoryStore();
    const before = await start({ store, secret: OLD_SECRET });
    const oldCookie = sid((await call(before, '/login', { method: 'POST' })).setCookie)!;
    const rotated = await start({ store, secret: [SECRET, OLD_SECRET] });
    const read = await call(rotated, '/me', { cookie: oldCookie });
    expect(read.json()).toMatchObject({ user: 'alice', isNew: false });
    const resigned = sid(read.setCookie)!;
    expect(resigned).toBeDefined();
    expect(resigned).not.toBe(oldCookie);
    expect(resigned.split('.')[0]).toBe(oldCookie.split('.')[0]);
    const after = await start({ store, secret: SECRET });
    expect((await call(after, '/me', { cookie: resigned })).json()).toMatchObject({ user: 'alice', isNew: false });
    expect((await call(after, '/me', { cookie: oldCookie })).json()).toMatchObject({ user: null, isNew: true });
  });

  it('treats a tampered cookie as a fresh session without calling store.get', async () => {
    const { store, calls, reset } = countingStore();
    const server = await start({ store });
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

  it('rejects with ERR_STORE when store.get fails: the host answers 500, no cookie, no unhandled rejection', async () => {
    const { store, fail } = countingStore();
    const server = await start({ store });
    const cookie = sid((await call(server, '/visit')).setCookie)!;
    fail.get = true;
    const res = await call(server, '/visit', { cookie });
    expect(res.res.status).toBe(500);
    expect(res.setCookie).toEqual([]);
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]).toBeInstanceOf(SessionError);
    expect((server.errors[0] as SessionError).code).toBe('ERR_STORE');
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    fail.get = false;
    expect((await call(server, '/visit', { cookie })).json()).toMatchObject({ views: 2 });
  });

  it('rejects with ERR_STORE when the end-of-request save fails, and sends no Set-Cookie', async () => {
    const { store, fail } = countingStore();
    const server = await start({ store });
    fail.set = true;
    const res = await call(server, '/app-cookies');
    expect(res.res.status).toBe(500);
    expect(res.setCookie).toEqual([]);
    expect((server.errors[0] as SessionError).code).toBe('ERR_STORE');
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  });

  it('saves the session and sends the cookie with a streamed (ReadableStream) response', async () => {
    const server = await start();
    const streamed = await call(server, '/stream');
    expect(streamed.body).toBe('one two three');
    const cookie = sid(streamed.setCookie);
    expect(cookie).toBeDefined();
    expect((await call(server, '/visit', { cookie })).json()).toMatchObject({ views: 43, isNew: false });
  });

  it('handles a HEAD request: cookie sent, no body, session saved', async () => {
    const server = await start();
    const head = await call(server, '/visit', { method: 'HEAD' });
    expect(head.res.status).toBe(200);
    expect(head.body).toBe('');
    const cookie = sid(head.setCookie);
    expect(cookie).toBeDefined();
    expect((await call(server, '/visit', { cookie })).json()).toMatchObject({ views: 2 });
  });

  it("keeps the app's own Set-Cookie headers next to the session cookie", async () => {
    const res = await call(await start(), '/app-cookies');
    expect(res.setCookie).toHaveLength(3);
    expect(res.setCookie.slice(0, 2)).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(res.setCookie[2]).toMatch(/^sid=s%3A/);
  });

  it('adds the cookie to a response with immutable headers (Response.redirect)', async () => {
    const server = await start();
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
    const server = await start();
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
    const server = await start({ store, rolling: true });
    const cookie = sid((await call(server, '/visit')).setCookie);
    reset();
    const res = await call(server, '/static', { cookie });
    expect(res.body).toBe('no session here');
    expect(res.setCookie).toEqual([]);
    expect(res.res.headers.get('vary')).toBeNull();
    expect(calls).toEqual({ get: 0, set: 0, touch: 0, destroy: 0 });
  });
});

describe('withSession options and host calls', () => {
  interface Env {
    SECRET: string;
  }
  const visit: SessionFetchHandler<Data, Env> = async (_request, s) => {
    const views = ((await s.get('views')) ?? 0) + 1;
    await s.set('views', views);
    return new Response(String(views));
  };
  const request = (cookie?: string): Request => new Request('https://worker.test/', cookie ? { headers: { cookie } } : {});
  const cookieOf = (res: Response): string => res.headers.getSetCookie()[0]!.split(';', 1)[0]!;

  it('builds the engine from env lazily, once per env object, and shares the default memory store', async () => {
    const seen: Env[] = [];
    const fetch = withSession<Data, Env>(visit, (env) => {
      seen.push(env);
      return { secret: env.SECRET };
    });
    expect(seen).toEqual([]);
    const env1: Env = { SECRET };
    const first = await fetch(request(), env1, {});
    const cookie = cookieOf(first);
    expect(await (await fetch(request(cookie), env1, {})).text()).toBe('2');
    expect(seen).toEqual([env1]);
    // Another env object (another isolate's view of the same bindings) gets its own engine,
    // but the same in-process memory store, so the session survives.
    const env2: Env = { SECRET };
    expect(await (await fetch(request(cookie), env2, {})).text()).toBe('3');
    expect(seen).toEqual([env1, env2]);
  });

  it('passes env and ctx through to the handler', async () => {
    const env = { SECRET };
    const ctx = { waitUntil: (_p: Promise<unknown>): void => {} };
    let got: unknown[] = [];
    const fetch = withSession<Data, typeof env, typeof ctx>(async (req, _s, e, c) => {
      got = [req.url, e, c];
      return new Response('ok');
    }, (e) => ({ secret: e.SECRET }));
    await fetch(request(), env, ctx);
    expect(got).toEqual(['https://worker.test/', env, ctx]);
  });

  it('throws ERR_CONFIG at construction for bad plain options, and rejects on first use for an env function', async () => {
    expect(() => withSession(visit, { secret: '' })).toThrow(SessionError);
    const lazy = withSession(visit, () => ({ secret: '' }));
    await expect(lazy(request(), { SECRET })).rejects.toMatchObject({ code: 'ERR_CONFIG' });
  });

  it('rejects with a TypeError when the handler returns something other than a Response', async () => {
    const fetch = withSession(async () => 'nope' as unknown as Response, { secret: SECRET });
    await expect(fetch(request())).rejects.toThrow(TypeError);
  });

  it('keeps the session when each cookie came on its own Cookie line and the host joined them with ", "', async () => {
    const fetch = withSession(visit, { secret: SECRET });
    const cookie = cookieOf(await fetch(request()));
    // Deno's Headers join repeated lines with ", " (the Fetch rule; undici joins Cookie lines with
    // "; "), which is what Deno.serve hands over for an HTTP/2 browser sending one cookie per line.
    for (const joined of [`theme=dark, ${cookie}`, `${cookie}, theme=dark`]) {
      const res = await fetch(request(joined));
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(Number(await res.text())).toBeGreaterThan(1);
    }
  });

  it('works without env or ctx (plain fetch(request) callers)', async () => {
    const fetch = withSession(visit, { secret: SECRET });
    const res = await fetch(request());
    expect(await res.text()).toBe('1');
    expect(res.headers.getSetCookie()).toHaveLength(1);
  });
});

/** Type-level checks; compiled (not run) by the test below. */
export function typeChecks(): void {
  // Workers: export default { fetch } with (request, env, ctx).
  interface Env {
    SESSION_SECRET: string;
  }
  type ExecutionContextLike = { waitUntil(promise: Promise<unknown>): void };
  const worker: { fetch: (request: Request, env: Env, ctx: ExecutionContextLike) => Response | Promise<Response> } = {
    fetch: withSession<Data, Env, ExecutionContextLike>(
      async (_request, session, env, ctx) => {
        expectTypeOf(session).toEqualTypeOf<Session<Data>>();
        expectTypeOf(env.SESSION_SECRET).toBeString();
        expectTypeOf(ctx.waitUntil).toBeFunction();
        // @ts-expect-error: not a key of Data
        await session.get('nope');
        return new Response('ok');
      },
      (env) => ({ secret: env.SESSION_SECRET }),
    ),
  };
  // Deno.serve / Bun.serve: (request, info) handlers.
  const denoStyle: (request: Request, info: { remoteAddr: unknown }) => Response | Promise<Response> = withSession(
    async () => new Response('ok'),
    { secret: SECRET },
  );
  const plain: (request: Request) => Promise<Response> = withSession(async () => new Response('ok'), { secret: SECRET });
  void worker;
  void denoStyle;
  void plain;
}

describe('websession/fetch types', () => {
  it('fits Workers, Deno/Bun and plain fetch handler shapes (this file compiles under the project compiler options)', () => {
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

/**
 * The Workers app used by the workerd suites: one fetch handler through websession/fetch
 * (paths under /fetch) and one Hono app through websession/hono (paths under /hono), both
 * taking their secret and KV binding from `env`.
 *
 * It is used twice: imported by the tests (which run in the vitest-pool-workers runner), and
 * bundled by vitest.workers.config.ts into a separate Worker, `websession-app`, that runs
 * WITHOUT `nodejs_compat` and is reached through the `APP` service binding. The runner itself
 * always has Node compatibility switched on by the pool, so only that second Worker proves
 * the core and the adapters need nothing from Node.
 */
import { Hono } from 'hono';
import { withSession, type SessionFetchHandler } from '../../adapters/fetch.ts';
import { session, type SessionVariables } from '../../adapters/hono.ts';
import type { SessionRecord, Store } from '../../src/index.ts';

/** The session data of the app. */
export type Data = { views: number; user: string };

/** The part of a Workers KV namespace the test store uses (typed structurally, no workers-types). */
export interface KvLike {
  get(key: string, type: 'json'): Promise<unknown>;
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>;
  delete(key: string): Promise<void>;
}

/** The bindings the app reads. */
export interface AppEnv {
  SESSION_SECRET: string;
  SESSIONS: KvLike;
}

/**
 * A minimal KV-backed store for these tests (not the library's KV store): records as JSON,
 * TTL in whole seconds, at least KV's minimum of 60.
 */
export function testKvStore(kv: KvLike, prefix = 'sess:'): Store & { gets: number } {
  const store = {
    gets: 0,
    capabilities: { nativeTtl: true, consistency: 'eventual', compareAndSet: false, listing: false } as const,
    async get(id: string): Promise<SessionRecord | undefined> {
      store.gets++;
      const value = await kv.get(prefix + id, 'json');
      return value === null ? undefined : (value as SessionRecord);
    },
    async set(id: string, record: SessionRecord, ttlMs: number): Promise<void> {
      await kv.put(prefix + id, JSON.stringify(record), { expirationTtl: Math.max(60, Math.ceil(ttlMs / 1000)) });
    },
    async destroy(id: string): Promise<void> {
      await kv.delete(prefix + id);
    },
  };
  return store;
}

/** How often each adapter called its options function, i.e. built an engine. */
export const engineBuilds: { fetch: number; hono: number } = { fetch: 0, hono: 0 };

const json = (value: unknown): Response =>
  new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } });

/** What a route reports about the runtime it ran in. */
function runtime(): Record<string, unknown> {
  return {
    userAgent: navigator.userAgent,
    hasProcess: typeof (globalThis as { process?: unknown }).process !== 'undefined',
    hasBuffer: typeof (globalThis as { Buffer?: unknown }).Buffer !== 'undefined',
  };
}

/** The fetch-handler routes, shared with the tests that call them in the runner. */
export const fetchRoutes: SessionFetchHandler<Data, AppEnv> = async (request, s) => {
  const url = new URL(request.url);
  switch (url.pathname.replace(/^\/fetch/, '')) {
    case '/visit': {
      const views = ((await s.get('views')) ?? 0) + 1;
      await s.set('views', views);
      return json({ views, isNew: s.isNew, builds: engineBuilds.fetch, ...runtime() });
    }
    case '/me':
      return json({ views: (await s.get('views')) ?? null, isNew: (await s.load()).isNew });
    case '/redirect':
      await s.set('views', 7);
      return Response.redirect(new URL('/fetch/me', url).href, 302);
    case '/static':
      return json(runtime());
    default:
      return new Response('not found', { status: 404 });
  }
};

/** A Hono app with the session middleware; `options` as for `session()`. */
export function createHonoApp(options: Parameters<typeof session<Data, AppEnv>>[0]): Hono<{ Bindings: AppEnv; Variables: SessionVariables<Data> }> {
  const app = new Hono<{ Bindings: AppEnv; Variables: SessionVariables<Data> }>().basePath('/hono');
  app.use(session<Data, AppEnv>(options));
  app.get('/visit', async (c) => {
    const s = c.get('session');
    const views = ((await s.get('views')) ?? 0) + 1;
    await s.set('views', views);
    return c.json({ views, isNew: s.isNew, builds: engineBuilds.hono, ...runtime() });
  });
  app.get('/me', async (c) => {
    const s = c.get('session');
    return c.json({ views: (await s.get('views')) ?? null, isNew: (await s.load()).isNew });
  });
  app.get('/redirect', async (c) => {
    await c.get('session').set('views', 7);
    return Response.redirect(new URL('/hono/me', c.req.url).href, 302);
  });
  app.get('/static', (c) => c.json(runtime()));
  return app;
}

const fetchHandler = withSession<Data, AppEnv>(fetchRoutes, (env) => {
  engineBuilds.fetch++;
  return { secret: env.SESSION_SECRET, store: testKvStore(env.SESSIONS, 'fetch:') };
});

const honoApp = createHonoApp((env) => {
  engineBuilds.hono++;
  return { secret: env.SESSION_SECRET, store: testKvStore(env.SESSIONS, 'hono:') };
});

export default {
  fetch(request: Request, env: AppEnv, ctx: unknown): Response | Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname.startsWith('/hono/')) return honoApp.fetch(request, env, ctx as never);
    return fetchHandler(request, env, ctx);
  },
};

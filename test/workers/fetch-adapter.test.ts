/**
 * websession/fetch inside workerd. The first block calls `withSession` handlers directly in
 * the test runner (a Worker with the pool's Node compatibility); the second sends requests to
 * the `websession-app` Worker, which runs without `nodejs_compat` (see vitest.workers.config.ts).
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { withSession } from '../../adapters/fetch.ts';
import { createMemoryStore } from '../../src/index.ts';
import { fetchRoutes, testKvStore, type AppEnv, type Data } from './app.ts';

const bindings = env as unknown as AppEnv & { APP: { fetch(request: Request): Promise<Response> } };

/** `name=value` of the session cookie among Set-Cookie values, or undefined. */
function sid(res: Response): string | undefined {
  return res.headers
    .getSetCookie()
    .find((c) => c.startsWith('sid='))
    ?.split(';', 1)[0];
}

function tamper(cookie: string): string {
  const last = cookie.at(-1)!;
  return cookie.slice(0, -1) + (last === 'A' ? 'B' : 'A');
}

const request = (path: string, cookie?: string): Request =>
  new Request(`https://app.test${path}`, { redirect: 'manual', headers: cookie ? { cookie } : {} });

describe('withSession in the workerd test runner', () => {
  it('runs in workerd', () => {
    expect(navigator.userAgent).toBe('Cloudflare-Workers');
  });

  it('gives a new visitor a cookie, recognises the returning visitor, and writes to KV', async () => {
    const store = testKvStore(bindings.SESSIONS, 'runner-fetch:');
    const fetch = withSession<Data, AppEnv>(fetchRoutes, { secret: bindings.SESSION_SECRET, store });
    const ctx = createExecutionContext();
    const first = await fetch(request('/fetch/visit'), bindings, ctx);
    await waitOnExecutionContext(ctx);
    expect(await first.json()).toMatchObject({ views: 1, isNew: true });
    const cookie = sid(first);
    expect(cookie).toMatch(/^sid=s%3A/);
    expect(first.headers.get('vary')).toBe('Cookie');
    const id = decodeURIComponent(cookie!.slice(4)).slice(2).split('.')[0]!;
    expect(await bindings.SESSIONS.get(`runner-fetch:${id}`, 'json')).toMatchObject({ views: 1 });
    const second = await fetch(request('/fetch/visit', cookie), bindings, createExecutionContext());
    expect(await second.json()).toMatchObject({ views: 2, isNew: false });
    expect(sid(second)).toBeUndefined();
    expect(await bindings.SESSIONS.get(`runner-fetch:${id}`, 'json')).toMatchObject({ views: 2 });
  });

  it('treats a tampered cookie as a fresh session without reading the store', async () => {
    const store = testKvStore(bindings.SESSIONS, 'runner-fetch:');
    const fetch = withSession<Data, AppEnv>(fetchRoutes, { secret: bindings.SESSION_SECRET, store });
    const cookie = sid(await fetch(request('/fetch/visit'), bindings))!;
    store.gets = 0;
    const res = await fetch(request('/fetch/me', tamper(cookie)), bindings);
    expect(await res.json()).toEqual({ views: null, isNew: true });
    expect(store.gets).toBe(0);
  });

  it('adds the cookie to Response.redirect(), whose headers are immutable', async () => {
    const immutable = Response.redirect('https://app.test/elsewhere', 302);
    expect(() => immutable.headers.append('set-cookie', 'x=1')).toThrow(TypeError);
    const fetch = withSession<Data, AppEnv>(fetchRoutes, { secret: bindings.SESSION_SECRET, store: createMemoryStore() });
    const res = await fetch(request('/fetch/redirect'), bindings);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://app.test/fetch/me');
    const cookie = sid(res);
    expect(cookie).toBeDefined();
    expect(await (await fetch(request('/fetch/me', cookie), bindings)).json()).toEqual({ views: 7, isNew: false });
  });

  it('builds the engine from env once and passes env and ctx to the handler', async () => {
    let builds = 0;
    let seen: unknown[] = [];
    const fetch = withSession<Data, AppEnv, ExecutionContext>(
      async (_request, s, e, c) => {
        seen = [e, c];
        await s.set('views', 1);
        return new Response('ok');
      },
      (e) => {
        builds++;
        return { secret: e.SESSION_SECRET, store: testKvStore(e.SESSIONS, 'runner-fetch:') };
      },
    );
    const ctx = createExecutionContext();
    await fetch(request('/'), bindings, ctx);
    await fetch(request('/'), bindings, ctx);
    expect(builds).toBe(1);
    expect(seen[0]).toBe(bindings);
    expect(seen[1]).toBe(ctx);
  });
});

describe('websession/fetch in a Worker without nodejs_compat', () => {
  const app = (path: string, cookie?: string): Promise<Response> => bindings.APP.fetch(request(path, cookie));

  it('runs on workerd with no Node globals', async () => {
    expect(await (await app('/fetch/static')).json()).toEqual({ userAgent: 'Cloudflare-Workers', hasProcess: false, hasBuffer: false });
  });

  it('serves a new visitor, a returning visitor and their writes, building the engine once', async () => {
    const first = await app('/fetch/visit');
    const body = (await first.json()) as { views: number; isNew: boolean; builds: number };
    expect(body).toMatchObject({ views: 1, isNew: true });
    const builds = body.builds;
    const cookie = sid(first);
    expect(cookie).toMatch(/^sid=s%3A/);
    expect(first.headers.getSetCookie()[0]).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    const second = await app('/fetch/visit', cookie);
    expect(await second.json()).toMatchObject({ views: 2, isNew: false });
    expect(sid(second)).toBeUndefined();
    const third = await app('/fetch/visit', cookie);
    // workerd hands the same env object to every request, so the options function ran once.
    expect(await third.json()).toMatchObject({ views: 3, isNew: false, builds });
  });

  it('treats a tampered cookie as a fresh session', async () => {
    const cookie = sid(await app('/fetch/visit'))!;
    const res = await app('/fetch/me', tamper(cookie));
    expect(await res.json()).toEqual({ views: null, isNew: true });
    expect(sid(res)).toBeUndefined();
  });

  it('adds the cookie to Response.redirect()', async () => {
    const res = await app('/fetch/redirect');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://app.test/fetch/me');
    const cookie = sid(res);
    expect(cookie).toBeDefined();
    expect(await (await app('/fetch/me', cookie)).json()).toEqual({ views: 7, isNew: false });
  });
});

/**
 * websession/hono inside workerd. The first block runs a Hono app in the test runner through
 * `app.fetch(request, env, ctx)`; the second sends requests to the `websession-app` Worker,
 * which runs without `nodejs_compat` (see vitest.workers.config.ts).
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/index.ts';
import { createHonoApp, testKvStore, type AppEnv } from './app.ts';

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

describe('session() middleware in the workerd test runner', () => {
  it('runs in workerd', () => {
    expect(navigator.userAgent).toBe('Cloudflare-Workers');
  });

  it('gives a new visitor a cookie, recognises the returning visitor, and writes to KV', async () => {
    const store = testKvStore(bindings.SESSIONS, 'runner-hono:');
    const app = createHonoApp({ secret: bindings.SESSION_SECRET, store });
    const ctx = createExecutionContext();
    const first = await app.fetch(request('/hono/visit'), bindings, ctx);
    await waitOnExecutionContext(ctx);
    expect(await first.json()).toMatchObject({ views: 1, isNew: true });
    const cookie = sid(first);
    expect(cookie).toMatch(/^sid=s%3A/);
    expect(first.headers.get('vary')).toBe('Cookie');
    const id = decodeURIComponent(cookie!.slice(4)).slice(2).split('.')[0]!;
    expect(await bindings.SESSIONS.get(`runner-hono:${id}`, 'json')).toMatchObject({ views: 1 });
    const second = await app.fetch(request('/hono/visit', cookie), bindings, createExecutionContext());
    expect(await second.json()).toMatchObject({ views: 2, isNew: false });
    expect(sid(second)).toBeUndefined();
    expect(await bindings.SESSIONS.get(`runner-hono:${id}`, 'json')).toMatchObject({ views: 2 });
  });

  it('treats a tampered cookie as a fresh session without reading the store', async () => {
    const store = testKvStore(bindings.SESSIONS, 'runner-hono:');
    const app = createHonoApp({ secret: bindings.SESSION_SECRET, store });
    const cookie = sid(await app.fetch(request('/hono/visit'), bindings))!;
    store.gets = 0;
    const res = await app.fetch(request('/hono/me', tamper(cookie)), bindings);
    expect(await res.json()).toEqual({ views: null, isNew: true });
    expect(store.gets).toBe(0);
  });

  it('adds the cookie to Response.redirect(), whose headers are immutable', async () => {
    const app = createHonoApp({ secret: bindings.SESSION_SECRET, store: createMemoryStore() });
    const res = await app.fetch(request('/hono/redirect'), bindings);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://app.test/hono/me');
    const cookie = sid(res);
    expect(cookie).toBeDefined();
    expect(await (await app.fetch(request('/hono/me', cookie), bindings)).json()).toEqual({ views: 7, isNew: false });
  });

  it('builds the engine from c.env once per env object', async () => {
    let builds = 0;
    const app = createHonoApp((e) => {
      builds++;
      return { secret: e.SESSION_SECRET, store: testKvStore(e.SESSIONS, 'runner-hono:') };
    });
    const cookie = sid(await app.fetch(request('/hono/visit'), bindings));
    expect(await (await app.fetch(request('/hono/visit', cookie), bindings)).json()).toMatchObject({ views: 2 });
    expect(builds).toBe(1);
  });
});

describe('websession/hono in a Worker without nodejs_compat', () => {
  const app = (path: string, cookie?: string): Promise<Response> => bindings.APP.fetch(request(path, cookie));

  it('runs on workerd with no Node globals', async () => {
    expect(await (await app('/hono/static')).json()).toEqual({ userAgent: 'Cloudflare-Workers', hasProcess: false, hasBuffer: false });
  });

  it('serves a new visitor, a returning visitor and their writes, building the engine once', async () => {
    const first = await app('/hono/visit');
    const body = (await first.json()) as { views: number; isNew: boolean; builds: number };
    expect(body).toMatchObject({ views: 1, isNew: true });
    const cookie = sid(first);
    expect(cookie).toMatch(/^sid=s%3A/);
    expect(first.headers.getSetCookie()[0]).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    const second = await app('/hono/visit', cookie);
    expect(await second.json()).toMatchObject({ views: 2, isNew: false });
    expect(sid(second)).toBeUndefined();
    // workerd hands the same env object to every request, so the options function ran once.
    expect(await (await app('/hono/visit', cookie)).json()).toMatchObject({ views: 3, isNew: false, builds: body.builds });
  });

  it('treats a tampered cookie as a fresh session', async () => {
    const cookie = sid(await app('/hono/visit'))!;
    const res = await app('/hono/me', tamper(cookie));
    expect(await res.json()).toEqual({ views: null, isNew: true });
    expect(sid(res)).toBeUndefined();
  });

  it('adds the cookie to Response.redirect()', async () => {
    const res = await app('/hono/redirect');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://app.test/hono/me');
    const cookie = sid(res);
    expect(cookie).toBeDefined();
    expect(await (await app('/hono/me', cookie)).json()).toEqual({ views: 7, isNew: false });
  });
});

import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { withSession, type NodeSessionOptions } from '../../adapters/node.ts';
import { createMemoryStore, type Session } from '../../src/index.ts';
import { Client, listenPerTest, sessionCookies } from '../helpers/http.ts';

const SECRET = 'a node secret that is long enough!!';
const listenHere = listenPerTest();

type Data = { views?: number; user?: string };

const endedAtOnce: boolean[] = [];

async function handler(req: IncomingMessage, res: ServerResponse, session: Session<Data>): Promise<void> {
  const url = req.url ?? '/';
  if (url === '/views') {
    const views = ((await session.get('views')) ?? 0) + 1;
    await session.set('views', views);
    res.end(`views ${views}`);
  } else if (url === '/read') {
    res.end(`views ${(await session.get('views')) ?? 'none'}`);
  } else if (url === '/login') {
    await session.regenerate();
    await session.set('user', 'alice');
    res.end('hello');
  } else if (url === '/logout') {
    await session.destroy();
    res.end('bye');
  } else if (url === '/stream') {
    await session.set('views', 42);
    res.write('a');
    setTimeout(() => res.end('b'), 10);
  } else if (url === '/ended-at-once') {
    await session.set('views', 7);
    res.end('ok');
    // Observed right after end(): whether the response was finished or held for the session.
    endedAtOnce.push(res.writableEnded);
  } else if (url === '/own-cookies') {
    await session.set('views', 1);
    res.setHeader('set-cookie', ['x=1', 'y=2']);
    res.end('ok');
  } else {
    res.end('untouched');
  }
}

async function serve(options: Partial<NodeSessionOptions> = {}): Promise<Client> {
  const s = await listenHere(withSession<Data>(handler, { secret: SECRET, ...options }));
  return new Client(s.url);
}

describe('withSession for node:http', () => {
  it('creates a session for a new visitor who writes and reads it back on return', async () => {
    const client = await serve();
    const first = await client.request('/views');
    expect(first.text_).toBe('views 1');
    expect(sessionCookies(first, 'sid')[0]).toMatch(/^sid=s%3A[\w-]{43}\.[\w%]+; Path=\/; HttpOnly; SameSite=Lax$/);
    expect((await client.request('/views')).text_).toBe('views 2');
  });

  it('finishes a response at once when the memory store and the hmac answer at once, and holds it only for a store that answers later', async () => {
    endedAtOnce.length = 0;
    const store = createMemoryStore();
    const client = await serve({ store });
    const first = await client.request('/ended-at-once');
    expect(sessionCookies(first, 'sid')).toHaveLength(1);
    await client.request('/ended-at-once');
    expect(endedAtOnce).toEqual([true, true]);
    expect((await client.request('/read')).text_).toBe('views 7');
    // The same store behind a wrapper: the response waits for the save, then goes out with its cookie.
    const wrapped = { ...store, set: (...args: Parameters<typeof store.set>) => store.set(...args) };
    const slow = await serve({ store: wrapped });
    const res = await slow.request('/ended-at-once');
    expect(sessionCookies(res, 'sid')).toHaveLength(1);
    expect(endedAtOnce).toEqual([true, true, false]);
    expect((await slow.request('/read')).text_).toBe('views 7');
  });

  it('costs no store call and sends no cookie on a route that never touches the session', async () => {
    const store = createMemoryStore();
    const client = await serve({ store });
    await client.request('/views');
    const get = vi.spyOn(store, 'get');
    const res = await client.request('/untouched');
    expect(res.text_).toBe('untouched');
    expect(get).not.toHaveBeenCalled();
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('regenerates on login so the old cookie stops working', async () => {
    const client = await serve();
    await client.request('/views');
    const before = client.jar.get('sid');
    await client.request('/login');
    expect(client.jar.get('sid')).not.toBe(before);
    const stale = await new Client(client.base).request('/read', { headers: { cookie: `sid=${before}` } });
    expect(stale.text_).toBe('views none');
  });

  it('destroys on logout and expires the cookie', async () => {
    const client = await serve();
    await client.request('/views');
    const res = await client.request('/logout');
    expect(sessionCookies(res, 'sid')[0]).toMatch(/^sid=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970/);
    expect(client.jar.has('sid')).toBe(false);
  });

  it('marks the cookie Secure behind a trusted proxy and withholds a Secure cookie over plain HTTP, reporting why', async () => {
    const events: string[] = [];
    const client = await serve({ proxy: true, cookie: { secure: true }, onEvent: (e) => events.push(e.type) });
    const https = await client.request('/views', { headers: { 'x-forwarded-proto': 'https' } });
    expect(sessionCookies(https, 'sid')[0]).toMatch(/; Secure/);
    expect(events).not.toContain('skip-undeliverable');
    const http = await new Client(client.base).request('/views');
    expect(http.headers.getSetCookie()).toEqual([]);
    expect(events.filter((e) => e === 'skip-undeliverable')).toHaveLength(1);
  });

  it('accepts a cookie signed with a rotated-out secret and re-signs it', async () => {
    const store = createMemoryStore();
    const old = await serve({ store, secret: 'the previous secret, also long enough' });
    await old.request('/views');
    const rotated = await serve({ store, secret: [SECRET, 'the previous secret, also long enough'] });
    rotated.jar.set('sid', old.jar.get('sid')!);
    const res = await rotated.request('/read');
    expect(res.text_).toBe('views 1');
    expect(rotated.jar.get('sid')).not.toBe(old.jar.get('sid'));
  });

  it('gives a tampered cookie a fresh session without a store read', async () => {
    const store = createMemoryStore();
    const client = await serve({ store });
    await client.request('/views');
    const get = vi.spyOn(store, 'get');
    const value = client.jar.get('sid')!;
    const res = await new Client(client.base).request('/read', { headers: { cookie: `sid=${value.slice(0, -3)}AAA` } });
    expect(res.text_).toBe('views none');
    expect(get).not.toHaveBeenCalled();
  });

  it('answers 503 when the store fails, and keeps serving afterwards', async () => {
    const store = createMemoryStore();
    const client = await serve({ store });
    await client.request('/views');
    const spy = vi.spyOn(store, 'get').mockRejectedValueOnce(new Error('ECONNREFUSED'));
    const failed = await client.request('/read');
    expect(failed.status).toBe(503);
    expect(failed.headers.getSetCookie()).toEqual([]);
    spy.mockRestore();
    expect((await client.request('/read')).text_).toBe('views 1');
  });

  it('sends the cookie on a streamed response and saves before it ends', async () => {
    const client = await serve();
    const res = await client.request('/stream');
    expect(res.text_).toBe('ab');
    expect(sessionCookies(res, 'sid')).toHaveLength(1);
    expect((await client.request('/read')).text_).toBe('views 42');
  });

  it('answers HEAD requests', async () => {
    const client = await serve();
    const res = await client.request('/views', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(sessionCookies(res, 'sid')).toHaveLength(1);
  });

  it("keeps the app's own Set-Cookie values", async () => {
    const client = await serve();
    const res = await client.request('/own-cookies');
    expect(res.headers.getSetCookie().map((c) => c.split('=')[0])).toEqual(['x', 'y', 'sid']);
  });
});

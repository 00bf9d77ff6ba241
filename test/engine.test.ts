import { describe, expect, it } from 'vitest';
import { createMemoryStore, createSessionEngine } from '../src/index.ts';

describe('createSessionEngine over Request/Response', () => {
  it('creates a session on a write and reads it back on the next request', async () => {
    const store = createMemoryStore();
    const engine = createSessionEngine<{ views: number }>({ secret: 'a'.repeat(32), store });
    const first = engine.load(new Request('https://example.test/'));
    await first.set('views', 1);
    const res = await engine.commit(first, new Response('ok'));
    const setCookie = res.headers.getSetCookie();
    expect(setCookie).toHaveLength(1);
    expect(setCookie[0]).toMatch(/^sid=s%3A[\w-]{43}\.[\w%]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(res.headers.get('vary')).toBe('Cookie');
    expect(res.headers.get('cache-control')).toBe('private');
    const cookie = setCookie[0]!.split(';')[0]!;
    const second = engine.load(new Request('https://example.test/', { headers: { cookie } }));
    expect(await second.get('views')).toBe(1);
    expect(second.isNew).toBe(false);
    const res2 = await engine.commit(second, new Response('ok'));
    expect(res2.headers.getSetCookie()).toEqual([]);
  });
});

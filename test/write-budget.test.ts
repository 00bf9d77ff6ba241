import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore, createSessionEngine } from '../src/index.ts';

const secret = 'write budget secret, long enough for no warning';
afterEach(() => {
  vi.useRealTimers();
});

let counter = 0;
async function visit(engine: ReturnType<typeof createSessionEngine>, cookie?: string, write = false) {
  const s = engine.load(new Request('https://app.test/', cookie ? { headers: { cookie } } : {}));
  if (write) await s.set('n', ++counter);
  else await s.get('n');
  const res = await engine.commit(s, new Response('ok'));
  return res.headers.getSetCookie()[0]?.split(';')[0] ?? cookie;
}

describe('touchAfter', () => {
  it('touches an unchanged session at most once per touchAfter', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
    const store = createMemoryStore({ sweepInterval: 0 });
    const touch = vi.spyOn(store, 'touch');
    const engine = createSessionEngine({ secret, store, touchAfter: 60_000 });
    const cookie = await visit(engine, undefined, true);
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(10_000);
      await visit(engine, cookie);
    }
    expect(touch).toHaveBeenCalledTimes(0);
    vi.advanceTimersByTime(20_000);
    await visit(engine, cookie);
    expect(touch).toHaveBeenCalledTimes(1);
  });

  it('touches on every request by default, as express-session does', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    const touch = vi.spyOn(store, 'touch');
    const engine = createSessionEngine({ secret, store });
    const cookie = await visit(engine, undefined, true);
    await visit(engine, cookie);
    await visit(engine, cookie);
    expect(touch).toHaveBeenCalledTimes(2);
  });

  it('never delays a write of changed data', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    const set = vi.spyOn(store, 'set');
    const engine = createSessionEngine({ secret, store, touchAfter: 60_000 });
    const cookie = await visit(engine, undefined, true);
    await visit(engine, cookie, true);
    expect(set).toHaveBeenCalledTimes(2);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore, createSessionEngine, type SessionOptions } from '../src/index.ts';

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

/** A memory store with its touch spied on, an engine over it at a fixed clock, and a first visit that wrote the session. */
async function budgeted(options: Partial<SessionOptions> = {}) {
  vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
  const store = createMemoryStore({ sweepInterval: 0 });
  const touch = vi.spyOn(store, 'touch');
  const engine = createSessionEngine({ secret, store, ...options });
  const cookie = (await visit(engine, undefined, true))!;
  return { store, touch, engine, cookie };
}

/** `times` reading visits of a returning visitor, `ms` apart on the fake clock. */
async function visitsEvery(engine: ReturnType<typeof createSessionEngine>, cookie: string, times: number, ms: number) {
  for (let i = 0; i < times; i++) {
    vi.advanceTimersByTime(ms);
    await visit(engine, cookie);
  }
}

/** Loads the session of a returning visitor. */
async function returning(engine: ReturnType<typeof createSessionEngine>, cookie: string) {
  return engine.load(new Request('https://app.test/', { headers: { cookie } })).load();
}

describe('touchAfter', () => {
  it('touches an unchanged session at most once per touchAfter', async () => {
    const { touch, engine, cookie } = await budgeted({ touchAfter: 60_000 });
    await visitsEvery(engine, cookie, 5, 10_000);
    expect(touch).toHaveBeenCalledTimes(0);
    await visitsEvery(engine, cookie, 1, 20_000);
    expect(touch).toHaveBeenCalledTimes(1);
  });

  it('touches on every request with touchAfter: 0, as express-session does', async () => {
    const { touch, engine, cookie } = await budgeted({ touchAfter: 0 });
    await visit(engine, cookie);
    await visit(engine, cookie);
    expect(touch).toHaveBeenCalledTimes(2);
  });

  it('touches an unchanged session at most once a minute by default', async () => {
    const { touch, engine, cookie } = await budgeted();
    await visitsEvery(engine, cookie, 5, 11_000);
    expect(touch).toHaveBeenCalledTimes(0);
    await visitsEvery(engine, cookie, 1, 6_000);
    expect(touch).toHaveBeenCalledTimes(1);
  });

  it('touches at least once per tenth of a short cookie maxAge, so an active session never lapses', async () => {
    const { touch, engine, cookie } = await budgeted({ touchAfter: 60_000, idleTimeout: null, cookie: { maxAge: 20_000 } });
    // A request every 5 s for two minutes: six times the maxAge, each gap a quarter of it.
    for (let i = 0; i < 24; i++) {
      vi.advanceTimersByTime(5_000);
      const s = await returning(engine, cookie);
      expect(s.isNew, `request ${i}`).toBe(false);
      await engine.commit(s, new Response('ok'));
    }
    expect(touch).toHaveBeenCalledTimes(24);
  });

  it('records a cookie the app changed (a new maxAge) at once, whatever the budget', async () => {
    const { store, touch, engine, cookie } = await budgeted({ touchAfter: 3_600_000 });
    vi.advanceTimersByTime(1_000);
    const s = await returning(engine, cookie);
    s.cookie.maxAge = 30 * 86_400_000;
    await engine.commit(s, new Response('ok'));
    expect(touch).toHaveBeenCalledTimes(1);
    const [[id]] = touch.mock.calls as unknown as [[string]];
    expect((await store.get(id))!.cookie.originalMaxAge).toBe(30 * 86_400_000);
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

import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore, createSessionEngine, createSigner, SessionError } from '../src/index.ts';
import type { Session, SessionEvent, SessionOptions, SessionRecord, Store } from '../src/index.ts';

const SECRET = 's'.repeat(32);
const T0 = Date.UTC(2030, 0, 1);

type Engine = ReturnType<typeof createSessionEngine>;

function setup(options: Partial<SessionOptions> = {}, store: Store = createMemoryStore({ sweepInterval: 0 })) {
  const events: SessionEvent[] = [];
  const engine = createSessionEngine({ secret: SECRET, store, onEvent: (e) => events.push(e), ...options } as SessionOptions);
  return { engine, store, events };
}

function request(cookie?: string, url = 'https://app.test/'): Request {
  return new Request(url, { headers: cookie === undefined ? {} : { cookie } });
}

function sessionCookie(res: Response, name = 'sid'): string | undefined {
  return res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((pair) => pair.startsWith(`${name}=`));
}

function idOf(pair: string): string {
  const value = decodeURIComponent(pair.slice(pair.indexOf('=') + 1));
  return value.slice(2, value.lastIndexOf('.'));
}

/** One request: load, run `handler`, commit onto a Response; the cookie to send next time comes back. */
async function visit<T>(engine: Engine, cookie: string | undefined, handler: (session: Session) => Promise<T>, url?: string) {
  const session = engine.load(request(cookie, url));
  const result = await handler(session);
  const res = await engine.commit(session, new Response('ok'));
  return { res, result, session, cookie: sessionCookie(res) ?? cookie };
}

/** A store with no expiry of its own: whatever was written comes back, however old. */
function naiveStore(): Store & { records: Map<string, SessionRecord> } {
  const records = new Map<string, SessionRecord>();
  return {
    records,
    capabilities: { nativeTtl: false, consistency: 'strong', compareAndSet: false, listing: false },
    async get(id) {
      const r = records.get(id);
      return r === undefined ? undefined : (JSON.parse(JSON.stringify(r)) as SessionRecord);
    },
    async set(id, record) {
      records.set(id, JSON.parse(JSON.stringify(record)) as SessionRecord);
    },
    async destroy(id) {
      records.delete(id);
    },
    async touch(id, record) {
      const stored = records.get(id);
      if (!stored) return;
      stored.cookie = JSON.parse(JSON.stringify(record.cookie)) as SessionRecord['cookie'];
      if (stored._ws && record._ws) stored._ws.a = record._ws.a;
    },
  };
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('Session', () => {
  describe('expiry', () => {
    it('ends a session when its cookie maxAge passes without a request, and slides it on each request', async () => {
      vi.useFakeTimers({ now: T0 });
      const { engine } = setup({ cookie: { maxAge: 60_000 }, idleTimeout: null, absoluteTimeout: null });
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      vi.advanceTimersByTime(59_000);
      expect((await visit(engine, first.cookie, (s) => s.get('n'))).result).toBe(1);
      vi.advanceTimersByTime(59_000);
      expect((await visit(engine, first.cookie, (s) => s.get('n'))).result).toBe(1);
      vi.advanceTimersByTime(60_000);
      const last = await visit(engine, first.cookie, async (s) => {
        await s.load();
        return { isNew: s.isNew, n: await s.get('n') };
      });
      expect(last.result).toEqual({ isNew: true, n: undefined });
    });

    it.each([
      ['cookie maxAge', { cookie: { maxAge: 10_000 }, idleTimeout: null, absoluteTimeout: null }, 10_000],
      ['idleTimeout', { idleTimeout: 10_000, absoluteTimeout: null }, 10_000],
      ['absoluteTimeout', { idleTimeout: null, absoluteTimeout: 10_000 }, 10_000],
    ])('rejects a record the store still returns once its %s has passed (the instant itself is expired)', async (_label, options, ms) => {
      vi.useFakeTimers({ now: T0 });
      const store = naiveStore();
      const { engine } = setup(options, store);
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      vi.setSystemTime(T0 + ms - 1);
      const before = await engine.load(request(first.cookie)).load();
      expect(before.isNew).toBe(false);
      vi.setSystemTime(T0 + ms);
      const at = await engine.load(request(first.cookie)).load();
      expect(at.freshReason).toBe('expired');
      expect(await at.get('n')).toBeUndefined();
    });

    it('slides the idle timeout with activity, even for requests that only read', async () => {
      vi.useFakeTimers({ now: T0 });
      const store = naiveStore();
      const { engine } = setup({ idleTimeout: 10_000, absoluteTimeout: null }, store);
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      for (let i = 0; i < 5; i++) {
        vi.advanceTimersByTime(9_000);
        expect((await visit(engine, first.cookie, (s) => s.get('n'))).result).toBe(1);
      }
      vi.advanceTimersByTime(10_000);
      expect((await engine.load(request(first.cookie)).load()).freshReason).toBe('expired');
    });

    it('keeps an active session alive on a store without touch', async () => {
      vi.useFakeTimers({ now: T0 });
      const memory = createMemoryStore({ sweepInterval: 0 });
      const store: Store = { capabilities: memory.capabilities, get: memory.get, set: memory.set, destroy: memory.destroy };
      const { engine } = setup({ idleTimeout: 10_000, absoluteTimeout: null }, store);
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      for (let i = 0; i < 5; i++) {
        vi.advanceTimersByTime(9_000);
        const s = await engine.load(request(first.cookie)).load();
        expect(s.isNew).toBe(false);
        await engine.commit(s, new Response('ok'));
      }
      vi.advanceTimersByTime(10_000);
      expect((await engine.load(request(first.cookie)).load()).isNew).toBe(true);
    });

    it('ends an active session at createdAt + absoluteTimeout exactly', async () => {
      vi.useFakeTimers({ now: T0 });
      const store = naiveStore();
      const { engine } = setup({ idleTimeout: 4_000, absoluteTimeout: 10_000 }, store);
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      for (const t of [3_000, 6_000, 9_000, 9_999]) {
        vi.setSystemTime(T0 + t);
        expect((await visit(engine, first.cookie, async (s) => s.set('n', t))).result).toBeUndefined();
        expect((await engine.load(request(first.cookie)).load()).isNew).toBe(false);
      }
      vi.setSystemTime(T0 + 10_000);
      expect((await engine.load(request(first.cookie)).load()).freshReason).toBe('expired');
    });

    it('keeps the absolute lifetime when the ID is rotated with its data, so rotation cannot extend it', async () => {
      vi.useFakeTimers({ now: T0 });
      const { engine, store } = setup({ idleTimeout: null, absoluteTimeout: 10_000 });
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      vi.setSystemTime(T0 + 5_000);
      const second = await visit(engine, first.cookie, (s) => s.regenerate({ keepData: true }));
      const record = await store.get(idOf(second.cookie!));
      expect(record?._ws?.c).toBe(T0);
      vi.setSystemTime(T0 + 10_000);
      const third = await visit(engine, second.cookie, (s) => s.load());
      // The store's TTL (the remaining absolute lifetime) drops it first; the engine would reject it anyway.
      expect(third.session.isNew).toBe(true);
      expect(['expired', 'not-found']).toContain(third.session.freshReason);
    });

    it('starts the absolute lifetime afresh for a session regenerated without its data', async () => {
      vi.useFakeTimers({ now: T0 });
      const { engine, store } = setup({ idleTimeout: null, absoluteTimeout: 10_000 });
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      vi.setSystemTime(T0 + 5_000);
      const second = await visit(engine, first.cookie, (s) => s.regenerate());
      const record = await store.get(idOf(second.cookie!));
      expect(record?._ws?.c).toBe(T0 + 5_000);
    });

    it('gives the store a TTL that ends at the earliest deadline', async () => {
      vi.useFakeTimers({ now: T0 });
      const store = createMemoryStore({ sweepInterval: 0 });
      const set = vi.spyOn(store, 'set');
      const { engine } = setup({ cookie: { maxAge: 60_000 }, idleTimeout: 30_000, absoluteTimeout: 3_600_000 }, store);
      await visit(engine, undefined, (s) => s.set('n', 1));
      expect(set.mock.calls[0]![2]).toBe(30_000);
      const { engine: browserSession } = setup({ idleTimeout: null, absoluteTimeout: null, fallbackTtl: 1234 }, store);
      await visit(browserSession, undefined, (s) => s.set('n', 1));
      expect(set.mock.calls[1]![2]).toBe(1234);
    });
  });

  describe('regenerate', () => {
    it('moves the visitor to a new ID, deletes the old record and drops the data', async () => {
      const { engine, store } = setup();
      const first = await visit(engine, undefined, (s) => s.set('role', 'guest'));
      const oldId = idOf(first.cookie!);
      const second = await visit(engine, first.cookie, async (s) => {
        await s.regenerate();
        return s.get('role');
      });
      expect(second.result).toBeUndefined();
      const newId = idOf(second.cookie!);
      expect(newId).not.toBe(oldId);
      expect(await store.get(oldId)).toBeUndefined();
      expect(await store.get(newId)).toBeDefined();
      // The old cookie no longer loads anything.
      expect((await engine.load(request(first.cookie)).load()).freshReason).toBe('not-found');
    });

    it('keeps the data with keepData: true', async () => {
      const { engine } = setup();
      const first = await visit(engine, undefined, (s) => s.set('cart', ['book']));
      const second = await visit(engine, first.cookie, (s) => s.regenerate({ keepData: true }));
      expect((await visit(engine, second.cookie, (s) => s.get('cart'))).result).toEqual(['book']);
    });

    it('writes the store once when followed by save()', async () => {
      const { engine, store } = setup();
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      const set = vi.spyOn(store, 'set');
      const second = await visit(engine, first.cookie, async (s) => {
        await s.regenerate();
        await s.set('user', 'ada');
        await s.save();
      });
      expect(set).toHaveBeenCalledTimes(1);
      expect(set.mock.calls[0]![0]).toBe(idOf(second.cookie!));
      expect((await visit(engine, second.cookie, (s) => s.get('user'))).result).toBe('ada');
    });

    it('leaves no record behind under an ID that was saved in the same request', async () => {
      const { engine, store } = setup();
      const session = engine.load(request());
      await session.set('step', 1);
      await session.save();
      const firstId = session.id;
      expect(await store.get(firstId)).toBeDefined();
      await session.regenerate({ keepData: true });
      await session.save();
      const secondId = session.id;
      await session.regenerate({ keepData: true });
      await engine.commit(session, new Response('ok'));
      expect(await store.get(firstId)).toBeUndefined();
      expect(await store.get(secondId)).toBeUndefined();
      expect(await store.get(session.id)).toMatchObject({ step: 1 });
      expect((store as ReturnType<typeof createMemoryStore>).length).toBe(1);
    });

    it('sends the new cookie for an unmodified regenerated session even with saveUninitialized false', async () => {
      const { engine } = setup();
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      const second = await visit(engine, first.cookie, (s) => s.regenerate());
      expect(second.cookie).not.toBe(first.cookie);
      expect((await engine.load(request(second.cookie)).load()).isNew).toBe(false);
    });

    it('never lets a planted anonymous ID carry the signed-in data', async () => {
      const { engine } = setup();
      const attacker = await visit(engine, undefined, (s) => s.set('anon', true));
      const victim = await visit(engine, attacker.cookie, async (s) => {
        await s.regenerate();
        await s.set('user', 'victim');
      });
      expect(victim.cookie).not.toBe(attacker.cookie);
      const asAttacker = await engine.load(request(attacker.cookie)).load();
      expect(await asAttacker.get('user')).toBeUndefined();
    });
  });

  describe('destroy', () => {
    it('deletes the record and expires the cookie with the same name, path and domain', async () => {
      const { engine, store } = setup({ name: 'app.sid', cookie: { path: '/app', domain: 'app.test', sameSite: 'strict' } });
      const url = 'https://app.test/app/page';
      const first = await engine.commit(
        await (async () => {
          const s = engine.load(request(undefined, url));
          await s.set('n', 1);
          return s;
        })(),
        new Response('ok'),
      );
      const cookie = sessionCookie(first, 'app.sid')!;
      const id = idOf(cookie);
      const session = engine.load(request(cookie, url));
      await session.destroy();
      const res = await engine.commit(session, new Response('bye'));
      expect(await store.get(id)).toBeUndefined();
      expect(res.headers.getSetCookie()).toEqual([
        'app.sid=; Max-Age=0; Domain=app.test; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict',
      ]);
      expect(res.headers.get('vary')).toBe('Cookie');
    });

    it('sends no Set-Cookie when a session that never had a cookie is destroyed', async () => {
      const { engine, store } = setup();
      const destroy = vi.spyOn(store, 'destroy');
      const { res } = await visit(engine, undefined, async (s) => {
        await s.set('n', 1);
        await s.destroy();
      });
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(destroy).not.toHaveBeenCalled();
    });

    it('refuses writes after destroy with ERR_STATE, and regenerate starts over', async () => {
      const { engine } = setup();
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      const { cookie } = await visit(engine, first.cookie, async (s) => {
        await s.destroy();
        await expect(s.set('n', 2)).rejects.toMatchObject({ code: 'ERR_STATE' });
        await expect(s.save()).rejects.toMatchObject({ code: 'ERR_STATE' });
        await s.regenerate();
        await s.set('n', 3);
      });
      expect(cookie).not.toBe(first.cookie);
      expect((await visit(engine, cookie, (s) => s.get('n'))).result).toBe(3);
    });

    it('is not undone by a concurrent request that modified the session', async () => {
      const { engine, store } = setup();
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      const slow = engine.load(request(first.cookie));
      await slow.load();
      await visit(engine, first.cookie, (s) => s.destroy());
      await slow.set('n', 2);
      const res = await engine.commit(slow, new Response('ok'));
      expect(await store.get(idOf(first.cookie!))).toBeUndefined();
      expect(res.headers.getSetCookie()).toEqual([]);
    });
  });

  describe('reload', () => {
    it('sees a concurrent write and drops unsaved changes', async () => {
      const { engine } = setup();
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      const a = engine.load(request(first.cookie));
      await a.set('local', 'unsaved');
      await visit(engine, first.cookie, (s) => s.set('n', 2));
      await a.reload();
      expect(await a.get('n')).toBe(2);
      expect(await a.has('local')).toBe(false);
    });

    it('rejects with ERR_NOT_FOUND when the record is gone', async () => {
      const { engine } = setup();
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      const a = engine.load(request(first.cookie));
      await a.load();
      await visit(engine, first.cookie, (s) => s.destroy());
      await expect(a.reload()).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    });

    it('does not re-send the cookie of a reloaded unmodified session', async () => {
      const { engine } = setup({ cookie: { maxAge: 60_000 } });
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      const { res } = await visit(engine, first.cookie, (s) => s.reload());
      expect(res.headers.getSetCookie()).toEqual([]);
    });
  });

  describe('save', () => {
    it('writes the record before the response is committed, and the end of the request does not write again', async () => {
      const { engine, store } = setup();
      const set = vi.spyOn(store, 'set');
      const session = engine.load(request());
      await session.set('n', 1);
      await session.save();
      expect(await store.get(session.id)).toMatchObject({ n: 1 });
      const res = await engine.commit(session, new Response('ok'));
      expect(set).toHaveBeenCalledTimes(1);
      expect(sessionCookie(res)).toBeDefined();
    });

    it('writes again at the end of the request when data changed after save()', async () => {
      const { engine, store } = setup();
      const set = vi.spyOn(store, 'set');
      const session = engine.load(request());
      await session.set('n', 1);
      await session.save();
      await session.set('n', 2);
      await engine.commit(session, new Response('ok'));
      expect(set).toHaveBeenCalledTimes(2);
      expect(await store.get(session.id)).toMatchObject({ n: 2 });
    });

    it('rejects with ERR_STORE when the store fails', async () => {
      const { engine, store } = setup();
      const cause = new Error('disk full');
      vi.spyOn(store, 'set').mockRejectedValue(cause);
      const session = engine.load(request());
      await session.set('n', 1);
      await expect(session.save()).rejects.toMatchObject({ code: 'ERR_STORE', cause });
      await expect(engine.commit(session, new Response('ok'))).rejects.toBeInstanceOf(SessionError);
    });
  });

  describe('touch', () => {
    it('slides the cookie expiry to now + originalMaxAge and the store keeps it', async () => {
      vi.useFakeTimers({ now: T0 });
      const { engine, store } = setup({ cookie: { maxAge: 60_000 } });
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      vi.advanceTimersByTime(30_000);
      const { session } = await visit(engine, first.cookie, async (s) => {
        await s.load();
        expect(s.cookie.expires?.getTime()).toBe(T0 + 60_000);
        s.touch();
        expect(s.cookie.expires?.getTime()).toBe(T0 + 90_000);
        expect(s.cookie.maxAge).toBe(60_000);
      });
      const record = await store.get(session.id);
      expect(record?.cookie.expires).toBe(new Date(T0 + 90_000).toISOString());
      expect(record?.cookie.originalMaxAge).toBe(60_000);
    });

    it('throws ERR_STATE before load', () => {
      const { engine } = setup();
      expect(() => engine.load(request()).touch()).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    });
  });

  describe('cookie changes', () => {
    it('re-sends the cookie when the app changes maxAge on an existing session ("remember me")', async () => {
      vi.useFakeTimers({ now: T0 });
      const { engine, store } = setup();
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      const { res, session } = await visit(engine, first.cookie, async (s) => {
        await s.load();
        s.cookie.maxAge = 30 * 86_400_000;
      });
      const header = res.headers.getSetCookie()[0]!;
      expect(header).toContain(`Max-Age=${30 * 86_400}`);
      expect(header).toContain(`Expires=${new Date(T0 + 30 * 86_400_000).toUTCString()}`);
      expect((await store.get(session.id))?.cookie.originalMaxAge).toBe(30 * 86_400_000);
    });

    it('does not re-send a changed cookie with resendOnCookieChange false (express-session behaviour)', async () => {
      const { engine } = setup({ resendOnCookieChange: false });
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      const { res } = await visit(engine, first.cookie, async (s) => {
        await s.load();
        s.cookie.maxAge = 60_000;
      });
      expect(res.headers.getSetCookie()).toEqual([]);
    });
  });

  describe('flash', () => {
    it('lives until it is read, across requests', async () => {
      const { engine } = setup();
      const first = await visit(engine, undefined, (s) => s.flash('notice', 'Saved!'));
      expect(first.cookie).toBeDefined();
      const second = await visit(engine, first.cookie, async (s) => [await s.flash('notice'), await s.flash('notice')]);
      expect(second.result).toEqual(['Saved!', undefined]);
      expect((await visit(engine, first.cookie, (s) => s.flash('notice'))).result).toBeUndefined();
    });

    it('survives requests that do not read it', async () => {
      const { engine } = setup();
      const first = await visit(engine, undefined, (s) => s.flash('notice', { text: 'hi' }));
      await visit(engine, first.cookie, (s) => s.set('other', 1));
      await visit(engine, first.cookie, (s) => s.get('other'));
      expect((await visit(engine, first.cookie, (s) => s.flash('notice'))).result).toEqual({ text: 'hi' });
    });

    it('is not part of the data', async () => {
      const { engine } = setup();
      const first = await visit(engine, undefined, (s) => s.flash('notice', 'x'));
      const { result } = await visit(engine, first.cookie, async (s) => {
        await s.load();
        return [await s.has('notice' as never), Object.keys(s.data)];
      });
      expect(result).toEqual([false, []]);
    });
  });

  describe('dirty tracking', () => {
    async function existing(data: Record<string, unknown>) {
      const ctx = setup();
      const first = await visit(ctx.engine, undefined, async (s) => {
        for (const [k, v] of Object.entries(data)) await s.set(k, v);
      });
      const set = vi.spyOn(ctx.store, 'set');
      const touch = vi.spyOn(ctx.store, 'touch' as never);
      return { ...ctx, cookie: first.cookie!, set, touch };
    }

    it('detects a nested mutation made through data', async () => {
      const { engine, cookie, set } = await existing({ profile: { name: 'ada', tags: [] } });
      await visit(engine, cookie, async (s) => {
        await s.load();
        (s.data.profile as { name: string }).name = 'grace';
      });
      expect(set).toHaveBeenCalledTimes(1);
      expect((await visit(engine, cookie, (s) => s.get('profile'))).result).toEqual({ name: 'grace', tags: [] });
    });

    it('detects a push onto an array obtained with get()', async () => {
      const { engine, cookie, set } = await existing({ list: [1] });
      await visit(engine, cookie, async (s) => {
        ((await s.get('list')) as number[]).push(2);
      });
      expect(set).toHaveBeenCalledTimes(1);
      expect((await visit(engine, cookie, (s) => s.get('list'))).result).toEqual([1, 2]);
    });

    it('detects a Date mutated in place after save()', async () => {
      const { engine, cookie, set } = await existing({ seed: 1 });
      const when = new Date(Date.UTC(2020, 0, 1));
      await visit(engine, cookie, async (s) => {
        await s.set('when', when);
        await s.save();
        when.setUTCFullYear(2021);
      });
      expect(set).toHaveBeenCalledTimes(2);
      expect((await visit(engine, cookie, (s) => s.get('when'))).result).toBe('2021-01-01T00:00:00.000Z');
    });

    it('detects a key reorder (delete then re-add), as express-session does', async () => {
      const { engine, cookie, set } = await existing({ a: 1, b: 2 });
      await visit(engine, cookie, async (s) => {
        await s.delete('a');
        await s.set('a', 1);
      });
      expect(set).toHaveBeenCalledTimes(1);
    });

    it('does not write when a value is set to what it already was', async () => {
      const { engine, cookie, set, touch } = await existing({ a: 1, nested: { x: [1, 2] } });
      const { res } = await visit(engine, cookie, async (s) => {
        await s.set('a', 1);
        await s.set('nested', { x: [1, 2] });
      });
      expect(set).not.toHaveBeenCalled();
      // Within a minute of the last write, the default write budget (touchAfter) skips the touch too.
      expect(touch).not.toHaveBeenCalled();
      expect(res.headers.getSetCookie()).toEqual([]);
    });

    it('does not serialise or write anything for a read of a primitive', async () => {
      const { engine, cookie, set } = await existing({ n: 5, s: 'text' });
      const session = engine.load(request(cookie));
      await session.load();
      const stringify = vi.spyOn(JSON, 'stringify');
      expect(await session.get('n')).toBe(5);
      expect(await session.get('s')).toBe('text');
      expect(await session.has('n')).toBe(true);
      expect(stringify).not.toHaveBeenCalled();
      stringify.mockRestore();
      const res = await engine.commit(session, new Response('ok'));
      expect(set).not.toHaveBeenCalled();
      expect(res.headers.getSetCookie()).toEqual([]);
    });

    it('writes an unchanged session on every request with resave true', async () => {
      const { engine, store } = setup({ resave: true });
      const first = await visit(engine, undefined, (s) => s.set('n', 1));
      const set = vi.spyOn(store, 'set');
      await visit(engine, first.cookie, (s) => s.get('n'));
      expect(set).toHaveBeenCalledTimes(1);
    });
  });

  describe('values', () => {
    it.each([
      ['a BigInt', () => 1n],
      ['a cycle', () => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      }],
      ['a nested BigInt', () => ({ deep: [{ n: 2n }] })],
    ])('set() of %s throws SessionError ERR_VALUE and changes nothing', async (_label, make) => {
      const { engine, store } = setup();
      const set = vi.spyOn(store, 'set');
      const session = engine.load(request());
      const error = await session.set('bad', make() as never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SessionError);
      expect((error as SessionError).code).toBe('ERR_VALUE');
      expect(await session.has('bad')).toBe(false);
      const res = await engine.commit(session, new Response('ok'));
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(set).not.toHaveBeenCalled();
    });

    it('flash() of a BigInt throws ERR_VALUE', async () => {
      const { engine } = setup();
      await expect(engine.load(request()).flash('x', 1n)).rejects.toMatchObject({ code: 'ERR_VALUE' });
    });

    it('round-trips unicode, lone surrogates and odd keys', async () => {
      const { engine } = setup();
      const value = { text: 'ünï ☃ 𝄞 \u202E \u0000 \uD800', '': 'empty key', 'a.b': 1, 'a[b]': 2 };
      const first = await visit(engine, undefined, (s) => s.set('v', value));
      expect((await visit(engine, first.cookie, (s) => s.get('v'))).result).toEqual(value);
    });
  });

  describe('change detection', () => {
    it('saves an existing session exactly when its data serialises differently, over 400 random edits', async () => {
      // A seeded generator, so a failure can be replayed.
      let seed = 0x5eed;
      const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32);
      const pick = <T,>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
      const KEYS = ['a', 'b', 'c', '1', '__proto__'];
      const VALUES: readonly unknown[] = ['x', 'y', '', 0, -0, 1, 1.5, 2 ** 53, true, false, null, Number.NaN, undefined, { n: 1 }, [1, 'x']];
      const { engine, events } = setup({ resave: false, touchAfter: 3_600_000 });
      let saves = 0;
      let unchanged = 0;
      for (let trial = 0; trial < 400; trial++) {
        const initial: Record<string, unknown> = {};
        for (const key of KEYS) if (random() < 0.6) initial[key] = pick(VALUES.filter((v) => v !== undefined && !Number.isNaN(v)));
        const first = await visit(engine, undefined, async (s) => {
          for (const [key, value] of Object.entries(initial)) await s.set(key as never, value as never);
          await s.set('seed' as never, trial as never);
        });
        events.length = 0;
        let before = '';
        let after = '';
        await visit(engine, first.cookie, async (s) => {
          await s.load();
          const data = s.data as Record<string, unknown>;
          before = JSON.stringify(data);
          for (let edit = Math.floor(random() * 3); edit > 0; edit--) {
            const key = pick(KEYS);
            const op = random();
            if (op < 0.4) data[key] = pick(VALUES);
            else if (op < 0.55) delete data[key];
            else if (op < 0.7 && key in data) {
              // The same value again, but moved to the end of the key order.
              const value = data[key];
              delete data[key];
              data[key] = value;
            } else if (op < 0.85) await s.set(key as never, pick(VALUES.filter((v) => typeof v !== 'number' || Number.isFinite(v))) as never);
            else data[key] = data[key];
          }
          after = JSON.stringify(data);
        });
        const saved = events.some((e) => e.type === 'save');
        expect({ trial, before, after, saved }).toEqual({ trial, before, after, saved: before !== after });
        if (saved) saves++;
        else unchanged++;
      }
      // Both outcomes were exercised.
      expect(saves).toBeGreaterThan(50);
      expect(unchanged).toBeGreaterThan(50);
    });

    it.each([
      ['0 replaced by -0 (both write 0)', 0, -0, false],
      ['null replaced by NaN (both write null)', null, Number.NaN, false],
      ['1 replaced by "1"', 1, '1', true],
      ['true replaced by "true"', true, 'true', true],
      ['0.1 + 0.2 replaced by 0.3', 0.1 + 0.2, 0.3, true],
    ])('saves only when the JSON differs: %s', async (_label, from, to, saves) => {
      const { engine, events } = setup({ resave: false, touchAfter: 3_600_000 });
      const first = await visit(engine, undefined, (s) => s.set('v' as never, from as never));
      events.length = 0;
      await visit(engine, first.cookie, async (s) => {
        await s.load();
        (s.data as Record<string, unknown>).v = to;
      });
      expect(events.some((e) => e.type === 'save')).toBe(saves);
    });
  });

  describe('prototype pollution', () => {
    const POLLUTED = '{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"polluted":1}},"hasOwnProperty":1,"n":1}';

    it('keeps __proto__ and constructor keys of a stored record as plain data', async () => {
      const { engine, store } = setup();
      const id = 'x'.repeat(43);
      const record = JSON.parse(POLLUTED) as SessionRecord;
      record.cookie = { originalMaxAge: null, path: '/', httpOnly: true };
      await store.set(id, record, 60_000);
      const cookie = `sid=${encodeURIComponent(`s:${await createSigner([SECRET]).sign(id)}`)}`;
      const { result } = await visit(engine, cookie, async (s) => {
        await s.load();
        return {
          isAdmin: await s.get('isAdmin' as never),
          proto: await s.get('__proto__' as never),
          hasN: await s.has('n'),
          keys: Object.keys(s.data).sort(),
        };
      });
      expect(result).toEqual({ isAdmin: undefined, proto: { isAdmin: true }, hasN: true, keys: ['__proto__', 'constructor', 'hasOwnProperty', 'n'] });
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype.hasOwnProperty).toBeTypeOf('function');
    });

    it("stores set('__proto__', …) as a literal key that survives a round trip", async () => {
      const { engine, store } = setup();
      const first = await visit(engine, undefined, (s) => s.set('__proto__' as never, { isAdmin: true } as never));
      const record = await store.get(idOf(first.cookie!));
      expect(record && Object.prototype.hasOwnProperty.call(record, '__proto__')).toBe(true);
      expect((record as Record<string, unknown>).isAdmin).toBeUndefined();
      const { result } = await visit(engine, first.cookie, async (s) => [await s.get('__proto__' as never), await s.get('isAdmin' as never)]);
      expect(result).toEqual([{ isAdmin: true }, undefined]);
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    });
    it('keeps keys assigned through session.data as plain data: no Object.prototype in its chain, __proto__ an own key', async () => {
      const { engine, store } = setup();
      const first = await visit(engine, undefined, async (s) => {
        await s.load();
        const data = s.data as Record<string, unknown>;
        const inherited = ['toString' in data, 'hasOwnProperty' in data, 'constructor' in data];
        data['__proto__'] = { isAdmin: true };
        data.toString = 'text';
        return { inherited, isAdmin: data.isAdmin, keys: Object.keys(data) };
      });
      expect(first.result).toEqual({ inherited: [false, false, false], isAdmin: undefined, keys: ['__proto__', 'toString'] });
      const record = (await store.get(idOf(first.cookie!))) as Record<string, unknown>;
      expect(Object.prototype.hasOwnProperty.call(record, '__proto__')).toBe(true);
      const { result } = await visit(engine, first.cookie, async (s) => [await s.get('__proto__' as never), await s.get('toString' as never), await s.get('isAdmin' as never)]);
      expect(result).toEqual([{ isAdmin: true }, 'text', undefined]);
    });
  });

  describe('user listing', () => {
    it('lists and destroys the sessions of one user', async () => {
      const { engine } = setup();
      const a = await visit(engine, undefined, (s) => s.setUser('u1'));
      const b = await visit(engine, undefined, (s) => s.setUser('u1'));
      await visit(engine, undefined, (s) => s.setUser('u2'));
      expect((await engine.listSessions('u1')).map((x) => x.id).sort()).toEqual([idOf(a.cookie!), idOf(b.cookie!)].sort());
      expect(await engine.destroyUserSessions('u1', { exceptId: idOf(a.cookie!) })).toBe(1);
      expect((await engine.load(request(b.cookie)).load()).isNew).toBe(true);
      expect((await engine.load(request(a.cookie)).load()).isNew).toBe(false);
    });
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore, createSessionEngine, createSigner, SessionError } from '../src/index.ts';
import type { SessionEvent, SessionOptions, SessionRecord, Store } from '../src/index.ts';

const SECRET = 'a'.repeat(32);
const OLD_SECRET = 'o'.repeat(32);

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

// ---------------------------------------------------------------------------------------------
// Helpers: a real memory store (no sweep timer), real Requests and Responses.

function setup(options: Partial<SessionOptions> = {}, store: Store = createMemoryStore({ sweepInterval: 0 })) {
  const events: SessionEvent[] = [];
  const engine = createSessionEngine({ secret: SECRET, store, onEvent: (e) => events.push(e), ...options } as SessionOptions);
  return { engine, store, events };
}

function request(cookie?: string, url = 'https://app.test/', headers: Record<string, string> = {}): Request {
  return new Request(url, { headers: cookie === undefined ? headers : { ...headers, cookie } });
}

/** The `name=value` pair of the session cookie a response sets, or undefined. */
function sessionCookie(res: Response, name = 'sid'): string | undefined {
  return res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((pair) => pair.startsWith(`${name}=`));
}

/** The session ID inside a `name=value` pair (unverified: for assertions only). */
function idOf(pair: string): string {
  const value = decodeURIComponent(pair.slice(pair.indexOf('=') + 1));
  expect(value.startsWith('s:')).toBe(true);
  return value.slice(2, value.lastIndexOf('.'));
}

async function signedCookie(id: string, secret = SECRET, name = 'sid'): Promise<string> {
  return `${name}=${encodeURIComponent(`s:${await createSigner([secret]).sign(id)}`)}`;
}

/** Runs one request: loads, lets `handler` use the session, commits onto a 200 response. */
async function visit<T>(
  engine: ReturnType<typeof setup>['engine'],
  cookie: string | undefined,
  handler: (session: ReturnType<ReturnType<typeof setup>['engine']['load']>) => Promise<T>,
  url?: string,
  headers?: Record<string, string>,
): Promise<{ res: Response; result: T; cookie: string | undefined }> {
  const session = engine.load(request(cookie, url, headers));
  const result = await handler(session);
  const res = await engine.commit(session, new Response('ok'));
  return { res, result, cookie: sessionCookie(res) ?? cookie };
}

/** A store with no expiry of its own: it returns whatever was written, however old. */
function naiveStore(): Store & { records: Map<string, SessionRecord> } {
  const records = new Map<string, SessionRecord>();
  return {
    records,
    capabilities: { nativeTtl: false, consistency: 'strong', compareAndSet: false, listing: false },
    async get(id) {
      const r = records.get(id);
      return r === undefined ? undefined : structuredClone(r);
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

describe('createSessionEngine', () => {
  describe('new and returning visitors', () => {
    it('stores a new session in express-session layout with the engine metadata under _ws', async () => {
      const { engine, store } = setup({ cookie: { maxAge: 60_000 } });
      const { res } = await visit(engine, undefined, async (s) => s.set('user', { name: 'ada' }));
      const id = idOf(sessionCookie(res)!);
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const record = await store.get(id);
      expect(record).toMatchObject({
        user: { name: 'ada' },
        cookie: { originalMaxAge: 60_000, path: '/', httpOnly: true, secure: true, sameSite: 'lax' },
        _ws: { v: 1 },
      });
      expect(typeof record!.cookie.expires).toBe('string');
      expect(Object.keys(record!).sort()).toEqual(['_ws', 'cookie', 'user']);
    });

    it('gives two visitors two different sessions', async () => {
      const { engine } = setup();
      const a = await visit(engine, undefined, async (s) => s.set('n', 1));
      const b = await visit(engine, undefined, async (s) => s.set('n', 2));
      expect(idOf(a.cookie!)).not.toBe(idOf(b.cookie!));
      expect((await visit(engine, a.cookie, (s) => s.get('n'))).result).toBe(1);
      expect((await visit(engine, b.cookie, (s) => s.get('n'))).result).toBe(2);
    });

    it('does not store or send a new session nothing was written to (saveUninitialized false)', async () => {
      const { engine, store } = setup();
      const set = vi.spyOn(store, 'set');
      const { res, result } = await visit(engine, undefined, (s) => s.get('anything'));
      expect(result).toBeUndefined();
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(res.headers.get('vary')).toBeNull();
      expect(res.headers.get('cache-control')).toBeNull();
      expect(set).not.toHaveBeenCalled();
    });

    it('stores and sends an untouched new session with saveUninitialized true', async () => {
      const { engine, store } = setup({ saveUninitialized: true });
      const set = vi.spyOn(store, 'set');
      const { res } = await visit(engine, undefined, (s) => s.load());
      expect(sessionCookie(res)).toBeDefined();
      expect(set).toHaveBeenCalledTimes(1);
    });

    it('re-sends the cookie of a returning visitor whose data changed, with a fresh expiry', async () => {
      vi.useFakeTimers({ now: Date.UTC(2030, 0, 1) });
      const { engine } = setup({ cookie: { maxAge: 60_000 } });
      const first = await visit(engine, undefined, async (s) => s.set('n', 1));
      vi.advanceTimersByTime(10_000);
      const second = await visit(engine, first.cookie, async (s) => s.set('n', 2));
      const header = second.res.headers.getSetCookie()[0]!;
      expect(header).toContain('Expires=Tue, 01 Jan 2030 00:01:10 GMT');
      expect(header).toContain('Max-Age=60');
      expect(idOf(second.cookie!)).toBe(idOf(first.cookie!));
    });

    it('accepts request facts instead of a Request', async () => {
      const { engine } = setup();
      const first = await visit(engine, undefined, async (s) => s.set('n', 7));
      const session = engine.load({ cookie: first.cookie, secure: true });
      expect(await session.get('n')).toBe(7);
      expect(await engine.commit(session)).toEqual({ setCookie: [], vary: false, cacheControl: false });
    });

    it('returns the headers to send when committed without a Response', async () => {
      const { engine } = setup();
      const session = engine.load(request());
      await session.set('n', 1);
      const result = await engine.commit(session);
      expect(result.setCookie).toHaveLength(1);
      expect(result.setCookie[0]).toMatch(/^sid=s%3A/);
      expect(result.vary).toBe(true);
      expect(result.cacheControl).toBe(true);
    });
  });

  describe('fresh reasons', () => {
    it('reports absent for a request without the cookie', async () => {
      const { engine, events } = setup();
      const s = await engine.load(request('other=1')).load();
      expect(s.isNew).toBe(true);
      expect(s.freshReason).toBe('absent');
      expect(events).toContainEqual({ type: 'create', reason: 'absent' });
    });

    it.each([
      ['signed with another secret', async () => signedCookie('some-id', 'another secret that is long enough')],
      ['unsigned', async () => 'sid=some-id'],
      ['tampered', async () => (await signedCookie('some-id')).replace('some-id', 'some-ie')],
      ['garbage', async () => 'sid=%%%'],
    ])('reports bad-signature for a cookie that is %s, without reading the store', async (_label, make) => {
      const { engine, store } = setup();
      const get = vi.spyOn(store, 'get');
      const s = await engine.load(request(await make())).load();
      expect(s.freshReason).toBe('bad-signature');
      expect(s.isNew).toBe(true);
      expect(get).not.toHaveBeenCalled();
    });

    it('reports not-found for a signed ID the store does not know, and never adopts it', async () => {
      const { engine, store } = setup();
      const set = vi.spyOn(store, 'set');
      const planted = await signedCookie('attacker-chosen-id');
      const { res } = await visit(engine, planted, async (s) => {
        await s.load();
        expect(s.freshReason).toBe('not-found');
        expect(s.id).not.toBe('attacker-chosen-id');
        await s.set('n', 1);
      });
      expect(idOf(sessionCookie(res)!)).not.toBe('attacker-chosen-id');
      expect(await store.get('attacker-chosen-id')).toBeUndefined();
      expect(set.mock.calls.map(([id]) => id)).not.toContain('attacker-chosen-id');
    });

    it('reports expired for a record the store still returns after its cookie expired, and deletes it', async () => {
      vi.useFakeTimers({ now: Date.UTC(2030, 0, 1) });
      const store = naiveStore();
      const { engine } = setup({ cookie: { maxAge: 60_000 }, idleTimeout: null, absoluteTimeout: null }, store);
      const first = await visit(engine, undefined, async (s) => s.set('n', 1));
      const id = idOf(first.cookie!);
      vi.advanceTimersByTime(60_000);
      const destroy = vi.spyOn(store, 'destroy');
      const s = await engine.load(request(first.cookie)).load();
      expect(s.freshReason).toBe('expired');
      expect(await s.get('n')).toBeUndefined();
      await vi.waitFor(() => expect(destroy).toHaveBeenCalledWith(id));
      expect(store.records.has(id)).toBe(false);
    });

    it("reports store-error with onStoreError 'anonymous', and never writes that session", async () => {
      const { engine, store, events } = setup({ onStoreError: 'anonymous', saveUninitialized: true });
      const first = await visit(engine, undefined, async (s) => s.set('n', 1));
      vi.spyOn(store, 'get').mockRejectedValue(new Error('connection refused'));
      const set = vi.spyOn(store, 'set');
      const destroy = vi.spyOn(store, 'destroy');
      events.length = 0;
      const { res } = await visit(engine, first.cookie, async (s) => {
        await s.load();
        expect(s.freshReason).toBe('store-error');
        expect(s.isNew).toBe(true);
        await s.set('n', 99);
      });
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(set).not.toHaveBeenCalled();
      expect(destroy).not.toHaveBeenCalled();
      expect(events.map((e) => e.type)).toEqual(['error', 'create']);
      expect(events[1]).toEqual({ type: 'create', reason: 'store-error' });
      vi.mocked(store.get).mockRestore();
      expect((await visit(engine, first.cookie, (s) => s.get('n'))).result).toBe(1);
    });

    it("rejects with SessionError ERR_STORE carrying the cause with onStoreError 'fail' (the default)", async () => {
      const { engine, store } = setup();
      const first = await visit(engine, undefined, async (s) => s.set('n', 1));
      const cause = new Error('connection refused');
      vi.spyOn(store, 'get').mockRejectedValue(cause);
      const session = engine.load(request(first.cookie));
      const error = await session.get('n').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SessionError);
      expect(error).toMatchObject({ code: 'ERR_STORE', cause });
      expect((error as Error).message).toContain('connection refused');
    });

    it('rejects with ERR_STORE when the store does not answer within storeTimeout', async () => {
      const { engine, store } = setup({ storeTimeout: 30 });
      const first = await visit(engine, undefined, async (s) => s.set('n', 1));
      vi.spyOn(store, 'get').mockReturnValue(new Promise(() => {}));
      const error = await engine
        .load(request(first.cookie))
        .load()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(SessionError);
      expect(error).toMatchObject({ code: 'ERR_STORE' });
      expect((error as Error).message).toContain('timed out');
    });
  });

  describe('duplicate cookies', () => {
    it('uses the first cookie that verifies and loads, whatever comes before it', async () => {
      const { engine } = setup();
      const a = await visit(engine, undefined, async (s) => s.set('who', 'a'));
      const b = await visit(engine, undefined, async (s) => s.set('who', 'b'));
      const header = ['sid=garbage', await signedCookie('unknown-id'), await signedCookie('x', 'wrong secret, long enough......'), a.cookie, b.cookie].join('; ');
      const s = await engine.load(request(header)).load();
      expect(await s.get('who')).toBe('a');
      expect(s.isNew).toBe(false);
    });

    it('reports not-found when every verified duplicate is unknown', async () => {
      const { engine } = setup();
      const header = [await signedCookie('one'), await signedCookie('two')].join('; ');
      expect((await engine.load(request(header)).load()).freshReason).toBe('not-found');
    });
  });

  describe('secret rotation', () => {
    it('loads a cookie signed with an older secret and re-signs it with the first secret', async () => {
      const store = createMemoryStore({ sweepInterval: 0 });
      const before = setup({ secret: OLD_SECRET }, store).engine;
      const first = await visit(before, undefined, async (s) => s.set('n', 1));
      const { engine, events } = setup({ secret: [SECRET, OLD_SECRET] }, store);
      const { res, result } = await visit(engine, first.cookie, (s) => s.get('n'));
      expect(result).toBe(1);
      const resigned = sessionCookie(res);
      expect(resigned).toBeDefined();
      expect(resigned).toBe(await signedCookie(idOf(first.cookie!), SECRET));
      expect(events.map((e) => e.type)).toContain('re-sign');
      // The re-signed cookie works where only the new secret is known, and is not re-sent again.
      const onlyNew = setup({ secret: SECRET }, store).engine;
      expect((await visit(onlyNew, resigned, (s) => s.get('n'))).result).toBe(1);
      const again = await visit(engine, resigned, (s) => s.get('n'));
      expect(again.res.headers.getSetCookie()).toEqual([]);
    });

    it('does not load a cookie signed with a secret no longer configured', async () => {
      const store = createMemoryStore({ sweepInterval: 0 });
      const first = await visit(setup({ secret: OLD_SECRET }, store).engine, undefined, async (s) => s.set('n', 1));
      const s = await setup({ secret: SECRET }, store).engine.load(request(first.cookie)).load();
      expect(s.freshReason).toBe('bad-signature');
    });
  });

  describe('laziness', () => {
    it('costs no crypto and no store call for a session that is never used', async () => {
      const { engine, store } = setup({ saveUninitialized: true, rolling: true });
      const existing = await visit(engine, undefined, async (s) => s.set('n', 1));
      const spies = [
        vi.spyOn(crypto.subtle, 'verify'),
        vi.spyOn(crypto.subtle, 'sign'),
        vi.spyOn(crypto.subtle, 'importKey'),
        vi.spyOn(store, 'get'),
        vi.spyOn(store, 'set'),
        vi.spyOn(store, 'destroy'),
        vi.spyOn(store, 'touch' as never),
      ];
      for (const cookie of [undefined, existing.cookie]) {
        const original = new Response('untouched', { headers: { 'x-app': '1' } });
        const session = engine.load(request(cookie));
        const res = await engine.commit(session, original);
        expect(res).toBe(original);
        expect(res.headers.getSetCookie()).toEqual([]);
        expect(res.headers.get('vary')).toBeNull();
      }
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    });

    it('loads at most once per request however many calls race', async () => {
      const { engine, store } = setup();
      const existing = await visit(engine, undefined, async (s) => s.set('n', 1));
      const get = vi.spyOn(store, 'get');
      const session = engine.load(request(existing.cookie));
      const values = await Promise.all([session.get('n'), session.get('n'), session.has('n'), session.load().then(() => session.get('n'))]);
      expect(values).toEqual([1, 1, true, 1]);
      expect(get).toHaveBeenCalledTimes(1);
    });

    it('loads a visitor without a session cookie at once with loadNow, as a fresh absent session', async () => {
      const { engine, events } = setup();
      const session = engine.load(request('other=1'));
      expect(engine.loadNow(session)).toBe(true);
      // Synchronously usable: no await between loadNow and reading the session.
      expect(session.loaded).toBe(true);
      expect(session.id).toMatch(/^[\w-]{43}$/);
      expect(session.isNew).toBe(true);
      expect(session.freshReason).toBe('absent');
      expect(events).toEqual([{ type: 'create', reason: 'absent' }]);
      session.data.n = 1;
      const res = await engine.commit(session, new Response('ok'));
      expect(res.headers.getSetCookie()).toHaveLength(1);
      expect(engine.loadNow(session)).toBe(true);
    });

    it('loads a returning visitor at once with loadNow once its cookie has verified, and from the first request with a synchronous hmac', async () => {
      const { engine, events } = setup();
      const existing = await visit(engine, undefined, async (s) => s.set('n', 1));
      // The first time, the signature needs Web Crypto: load() does it.
      expect(await engine.load(request(existing.cookie)).get('n')).toBe(1);
      events.length = 0;
      const again = engine.load(request(existing.cookie));
      expect(engine.loadNow(again)).toBe(true);
      expect(again.loaded).toBe(true);
      expect(again.isNew).toBe(false);
      expect(again.data.n).toBe(1);
      expect(events).toEqual([{ type: 'load' }]);
      const { nodeHmac } = await import('../adapters/node-hmac.ts');
      const sync = setup({ hmac: nodeHmac });
      const made = await visit(sync.engine, undefined, async (s) => s.set('n', 2));
      const first = sync.engine.load(request(made.cookie));
      expect(sync.engine.loadNow(first)).toBe(true);
      expect(first.data.n).toBe(2);
    });

    it('reads one value synchronously with readNow, refuses before load, and still saves an object changed in place', async () => {
      const { engine, store } = setup();
      const existing = await visit(engine, undefined, async (s) => {
        await s.set('n', 1);
        await s.set('list', [1]);
      });
      const early = engine.load(request(existing.cookie));
      expect(() => engine.readNow(early, 'n')).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
      await early.load();
      expect(engine.readNow(early, 'n')).toBe(1);
      expect(engine.readNow(early, 'missing')).toBeUndefined();
      const set = vi.spyOn(store, 'set');
      // Only plain values read: nothing to save.
      await engine.commit(early, new Response('ok'));
      expect(set).not.toHaveBeenCalled();
      const next = engine.load(request(existing.cookie));
      await next.load();
      (engine.readNow(next, 'list') as number[]).push(2);
      await engine.commit(next, new Response('ok'));
      expect(set).toHaveBeenCalledTimes(1);
      expect(await engine.load(request(existing.cookie)).get('list')).toEqual([1, 2]);
    });

    it('goes the whole way for a verified cookie whose record is gone or expired: reason, clean-up and a fresh session', async () => {
      const { engine, store } = setup();
      const existing = await visit(engine, undefined, async (s) => s.set('n', 1));
      await engine.load(request(existing.cookie)).load();
      await store.destroy(idOf(existing.cookie!));
      const gone = engine.load(request(existing.cookie));
      expect(engine.loadNow(gone)).toBe(false);
      await gone.load();
      expect(gone.freshReason).toBe('not-found');
      // A record the store still keeps but this engine's absolute timeout has ended.
      vi.useFakeTimers({ now: Date.now() });
      try {
        const strict = setup({ absoluteTimeout: 1_000 }, store).engine;
        const later = await visit(engine, undefined, async (s) => s.set('n', 1));
        expect(await strict.load(request(later.cookie)).get('n')).toBe(1);
        vi.setSystemTime(Date.now() + 1_001);
        const destroy = vi.spyOn(store, 'destroy');
        const stale = strict.load(request(later.cookie));
        expect(strict.loadNow(stale)).toBe(false);
        await stale.load();
        expect(stale.freshReason).toBe('expired');
        expect(stale.id).not.toBe(idOf(later.cookie!));
        expect(destroy).toHaveBeenCalledWith(idOf(later.cookie!));
      } finally {
        vi.useRealTimers();
      }
    });

    it('never reads around a store wrapper or spy that replaces get: every load goes through it', async () => {
      const memory = createMemoryStore({ sweepInterval: 0 });
      const reads: string[] = [];
      const logged: Store = { ...memory, get: (id) => (reads.push(id), memory.get(id)) };
      const { engine } = setup({}, logged);
      const existing = await visit(engine, undefined, async (s) => s.set('n', 1));
      for (let i = 0; i < 3; i++) {
        const s = engine.load(request(existing.cookie));
        expect(engine.loadNow(s)).toBe(false);
        expect(await s.get('n')).toBe(1);
      }
      expect(reads).toHaveLength(3);
      // The same through a prototype-linked wrapper, and with a test spy on the store itself.
      const inherited = Object.assign(Object.create(memory) as Store, { get: (id: string) => (reads.push(id), memory.get(id)) });
      const viaProto = setup({}, inherited).engine;
      expect(await viaProto.load(request(existing.cookie)).get('n')).toBe(1);
      expect(await viaProto.load(request(existing.cookie)).get('n')).toBe(1);
      expect(reads).toHaveLength(5);
      const spy = vi.spyOn(memory, 'get').mockRejectedValue(new Error('store down'));
      const direct = setup({ onStoreError: 'fail' }, memory).engine;
      await expect(direct.load(request(existing.cookie)).load()).rejects.toMatchObject({ code: 'ERR_STORE' });
      expect(spy).toHaveBeenCalledTimes(1);
    });

    it('leaves loading to load() when a cookie of its name is present or genid is the app\'s', async () => {
      const { engine } = setup();
      const existing = await visit(engine, undefined, async (s) => s.set('n', 1));
      const returning = engine.load(request(existing.cookie));
      expect(engine.loadNow(returning)).toBe(false);
      expect(returning.loaded).toBe(false);
      expect(await returning.get('n')).toBe(1);
      const bogus = engine.load(request('sid=forged'));
      expect(engine.loadNow(bogus)).toBe(false);
      const custom = setup({ genid: () => 'app-made-id' }).engine;
      const fresh = custom.load(request());
      expect(custom.loadNow(fresh)).toBe(false);
      await fresh.load();
      expect(fresh.id).toBe('app-made-id');
    });

    it('throws ERR_STATE when id or data are read before load', () => {
      const { engine } = setup();
      const session = engine.load(request());
      expect(() => session.id).toThrow(SessionError);
      expect(() => session.data).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    });
  });

  describe('commitNow', () => {
    it('commits at once a read that touches the memory store and a write to it, as commit() would', async () => {
      const { engine, store, events } = setup({ touchAfter: 0 });
      const existing = await visit(engine, undefined, async (s) => s.set('n', 1));
      const id = idOf(existing.cookie!);
      const before = (await store.get(id))!._ws!.a;
      await new Promise((resolve) => setTimeout(resolve, 5));
      events.length = 0;
      const read = engine.load(request(existing.cookie));
      expect(await read.get('n')).toBe(1);
      expect(engine.commitNow(read)).toEqual({ setCookie: [], vary: false, cacheControl: false });
      expect((await store.get(id))!._ws!.a).toBeGreaterThan(before);
      const write = engine.load(request(existing.cookie));
      await write.set('n', 2);
      expect(engine.commitNow(write)).toEqual({ setCookie: [], vary: false, cacheControl: false });
      expect(await store.get(id)).toMatchObject({ n: 2 });
      expect(events.map((e) => e.type)).toEqual(['load', 'touch', 'load', 'save']);
      // Committed: the headers are gone, so the ID can no longer change.
      await expect(write.regenerate()).rejects.toMatchObject({ code: 'ERR_HEADERS_SENT' });
    });

    it('signs a new session\'s cookie at once with a synchronous hmac, and leaves Web Crypto signing to commit() with nothing written', async () => {
      const { nodeHmac } = await import('../adapters/node-hmac.ts');
      const sync = setup({ hmac: nodeHmac });
      const fresh = sync.engine.load(request());
      await fresh.set('n', 1);
      const result = sync.engine.commitNow(fresh)!;
      expect(result.setCookie).toEqual([expect.stringMatching(/^sid=s%3A[\w-]{43}\.[\w%]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/)]);
      expect(await sync.store.get(fresh.id)).toMatchObject({ n: 1 });
      const web = setup();
      const other = web.engine.load(request());
      await other.set('n', 1);
      expect(web.engine.commitNow(other)).toBeUndefined();
      expect(await web.store.get(other.id)).toBeUndefined();
      expect(web.events.map((e) => e.type)).toEqual(['create']);
      const res = await web.engine.commit(other, new Response('ok'));
      expect(sessionCookie(res)).toBeDefined();
      expect(await web.store.get(other.id)).toMatchObject({ n: 1 });
    });

    it('leaves a write that finds its record gone to commit(), which neither resurrects it nor sends a cookie', async () => {
      const { engine, store } = setup();
      const existing = await visit(engine, undefined, async (s) => s.set('n', 1));
      const s = engine.load(request(existing.cookie));
      await s.set('n', 2);
      // A logout in another request, meanwhile.
      await store.destroy(idOf(existing.cookie!));
      expect(engine.commitNow(s)).toBeUndefined();
      const res = await engine.commit(s, new Response('ok'));
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(await store.get(idOf(existing.cookie!))).toBeUndefined();
    });

    it('never writes around a store wrapper that replaces set or touch', async () => {
      const memory = createMemoryStore({ sweepInterval: 0 });
      const writes: string[] = [];
      const wrapped: Store = {
        ...memory,
        set: (...args) => (writes.push('set'), memory.set(...args)),
        touch: (...args) => (writes.push('touch'), memory.touch!(...args)),
      };
      const { engine } = setup({ touchAfter: 0 }, wrapped);
      const existing = await visit(engine, undefined, async (s) => s.set('n', 1));
      for (const change of [false, true]) {
        const s = engine.load(request(existing.cookie));
        if (change) await s.set('n', 2);
        else await s.load();
        expect(engine.commitNow(s)).toBeUndefined();
        await engine.commit(s);
      }
      expect(writes).toEqual(['set', 'touch', 'set']);
    });
  });

  describe('commitNowOrLater', () => {
    it('answers at once, without a promise, when the memory store and a synchronous hmac allow it', async () => {
      const { nodeHmac } = await import('../adapters/node-hmac.ts');
      const { engine, store } = setup({ hmac: nodeHmac });
      const fresh = engine.load(request());
      await fresh.set('n', 1);
      const result = engine.commitNowOrLater(fresh);
      expect(result).not.toBeInstanceOf(Promise);
      expect((result as { setCookie: string[] }).setCookie).toEqual([expect.stringMatching(/^sid=s%3A[\w-]{43}\.[\w%]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/)]);
      expect(await store.get(fresh.id)).toMatchObject({ n: 1 });
      const unused = engine.load(request());
      expect(engine.commitNowOrLater(unused)).toEqual({ setCookie: [], vary: false, cacheControl: false });
    });

    it('returns a promise when the store is asynchronous, resolving to the cookie once the record is stored', async () => {
      const store = naiveStore();
      const { engine } = setup({}, store);
      const fresh = engine.load(request());
      await fresh.set('n', 1);
      const pending = engine.commitNowOrLater(fresh);
      expect(pending).toBeInstanceOf(Promise);
      const result = await pending;
      expect(store.records.get(fresh.id)).toMatchObject({ n: 1 });
      const pair = result.setCookie[0]!.split(';')[0]!;
      const again = engine.load(request(pair));
      expect(await again.get('n')).toBe(1);
      await expect(again.regenerate()).resolves.toBeUndefined();
      await expect(fresh.regenerate()).rejects.toMatchObject({ code: 'ERR_HEADERS_SENT' });
    });

    it('serialises the data no more often than commit() does when it has to wait for the store', async () => {
      let calls = 0;
      const counted = { toJSON: () => (calls++, 'v') };
      const counts: number[] = [];
      for (const commit of ['commit', 'commitNowOrLater'] as const) {
        const { engine } = setup({}, naiveStore());
        const s = engine.load(request());
        await s.set('x', counted);
        calls = 0;
        await engine[commit](s);
        counts.push(calls);
      }
      expect(counts[1]).toBe(counts[0]);
    });

    it('rejects, and never throws, with ERR_VALUE when data changed in place no longer serialises; hasWork() says there is work and commitNow() leaves it to commit()', async () => {
      const { engine, store } = setup();
      const s = engine.load(request());
      await s.load();
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      (s.data as Record<string, unknown>).bad = cyclic;
      expect(engine.hasWork(s)).toBe(true);
      expect(engine.commitNow(s)).toBeUndefined();
      let pending: unknown;
      expect(() => (pending = engine.commitNowOrLater(s))).not.toThrow();
      await expect(pending).rejects.toMatchObject({ code: 'ERR_VALUE', message: expect.stringContaining('cannot be stored as JSON') });
      await expect(engine.commit(s)).rejects.toMatchObject({ code: 'ERR_VALUE' });
      expect(store.length).toBe(0);
    });

    it('rejects with ERR_STORE, the store\'s error as its cause, when the asynchronous store fails', async () => {
      const failing: Store = { ...naiveStore(), set: async () => Promise.reject(new Error('disk full')) };
      const { engine } = setup({}, failing);
      const fresh = engine.load(request());
      await fresh.set('n', 1);
      await expect(engine.commitNowOrLater(fresh)).rejects.toMatchObject({ code: 'ERR_STORE', cause: expect.objectContaining({ message: expect.stringContaining('disk full') }) });
    });
  });

  describe('secure cookies and proxies', () => {
    it('sends no Set-Cookie and stores nothing for a new Secure session on plain http', async () => {
      const { engine, store, events } = setup({ cookie: { secure: true }, saveUninitialized: true });
      const set = vi.spyOn(store, 'set');
      const { res } = await visit(engine, undefined, async (s) => s.set('n', 1), 'http://app.test/');
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(set).not.toHaveBeenCalled();
      expect(events.map((e) => e.type)).toContain('skip-undeliverable');
    });

    it("leaves Secure off on plain http with secure 'auto' (the default) and sets it on https", async () => {
      const { engine } = setup();
      const plain = await visit(engine, undefined, async (s) => s.set('n', 1), 'http://app.test/');
      expect(plain.res.headers.getSetCookie()[0]).not.toContain('Secure');
      const tls = await visit(engine, undefined, async (s) => s.set('n', 1), 'https://app.test/');
      expect(tls.res.headers.getSetCookie()[0]).toContain('; Secure');
    });

    it.each([
      ['https', true],
      ['HTTPS', true],
      ['https, http', true],
      [' https ,http', true],
      ['http', false],
      ['http, https', false],
      ['', false],
    ])('with proxy: true trusts X-Forwarded-Proto %j (secure: %s)', async (proto, secure) => {
      const { engine, store } = setup({ proxy: true, cookie: { secure: true } });
      const set = vi.spyOn(store, 'set');
      const { res } = await visit(engine, undefined, async (s) => s.set('n', 1), 'http://app.test/', { 'x-forwarded-proto': proto });
      expect(sessionCookie(res) !== undefined).toBe(secure);
      expect(set).toHaveBeenCalledTimes(secure ? 1 : 0);
    });

    it.each([undefined, false])('with proxy %s ignores X-Forwarded-Proto', async (proxy) => {
      const { engine } = setup({ proxy, cookie: { secure: true } });
      const { res } = await visit(engine, undefined, async (s) => s.set('n', 1), 'http://app.test/', { 'x-forwarded-proto': 'https' });
      expect(res.headers.getSetCookie()).toEqual([]);
      const auto = setup({ proxy }).engine;
      const autoRes = await visit(auto, undefined, async (s) => s.set('n', 1), 'http://app.test/', { 'x-forwarded-proto': 'https' });
      expect(autoRes.res.headers.getSetCookie()[0]).not.toContain('Secure');
    });

    it("resolves secure 'auto' and sameSite 'auto' from a trusted X-Forwarded-Proto", async () => {
      const { engine } = setup({ proxy: true, cookie: { sameSite: 'auto' } });
      const viaProxy = await visit(engine, undefined, async (s) => s.set('n', 1), 'http://app.test/', { 'x-forwarded-proto': 'https' });
      expect(viaProxy.res.headers.getSetCookie()[0]).toMatch(/; Secure; SameSite=None$/);
      const plain = await visit(engine, undefined, async (s) => s.set('n', 1), 'http://app.test/');
      expect(plain.res.headers.getSetCookie()[0]).toMatch(/; HttpOnly; SameSite=Lax$/);
    });
  });

  describe('response headers', () => {
    async function committed(response: Response): Promise<Response> {
      const { engine } = setup();
      const session = engine.load(request());
      await session.set('n', 1);
      return engine.commit(session, response);
    }

    it("keeps the app's own Cache-Control", async () => {
      const res = await committed(new Response('ok', { headers: { 'cache-control': 'no-store' } }));
      expect(res.headers.get('cache-control')).toBe('no-store');
    });

    it('appends Cookie to an existing Vary and does not repeat it', async () => {
      expect((await committed(new Response('ok', { headers: { vary: 'Accept-Encoding' } }))).headers.get('vary')).toBe('Accept-Encoding, Cookie');
      expect((await committed(new Response('ok', { headers: { vary: 'cookie' } }))).headers.get('vary')).toBe('cookie');
      expect((await committed(new Response('ok', { headers: { vary: '*' } }))).headers.get('vary')).toBe('*');
    });

    it("keeps the app's own Set-Cookie values, each as a separate header", async () => {
      const headers = new Headers();
      headers.append('set-cookie', 'theme=dark; Path=/');
      headers.append('set-cookie', 'lang=en; Path=/');
      const res = await committed(new Response('ok', { headers }));
      const all = res.headers.getSetCookie();
      expect(all).toHaveLength(3);
      expect(all.slice(0, 2)).toEqual(['theme=dark; Path=/', 'lang=en; Path=/']);
      expect(all[2]).toMatch(/^sid=s%3A/);
    });

    it('copies a redirect Response, whose headers are immutable, keeping status and Location', async () => {
      const original = Response.redirect('https://app.test/home', 303);
      // Node, Deno and workerd make a redirect's headers immutable; Bun 1.4 does not, and then
      // there is nothing to copy. Either way the cookie must arrive on a 303 to the same place.
      let immutable = false;
      try {
        original.headers.append('x-probe', '1');
        original.headers.delete('x-probe');
      } catch {
        immutable = true;
      }
      const res = await committed(original);
      if (immutable) expect(res).not.toBe(original);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('https://app.test/home');
      expect(sessionCookie(res)).toBeDefined();
      expect(res.headers.get('vary')).toBe('Cookie');
    });

    it('copies a Response whose headers refuse changes, keeping status, headers and body', async () => {
      const original = new Response('payload', { status: 201, statusText: 'Created', headers: { 'x-app': '1', 'content-type': 'text/plain' } });
      const refuse = () => {
        throw new TypeError('immutable');
      };
      Object.defineProperties(original.headers, { append: { value: refuse }, set: { value: refuse }, delete: { value: refuse } });
      const res = await committed(original);
      expect(res).not.toBe(original);
      expect(res.status).toBe(201);
      expect(res.statusText).toBe('Created');
      expect(res.headers.get('x-app')).toBe('1');
      expect(sessionCookie(res)).toBeDefined();
      expect(await res.text()).toBe('payload');
    });
  });

  describe('genid', () => {
    it.each([
      ['a synchronous', () => 'fixed-id'],
      ['an asynchronous', async () => 'fixed-id'],
    ])('uses %s genid for new sessions', async (_label, genid) => {
      const { engine, store } = setup({ genid });
      const { res } = await visit(engine, undefined, async (s) => s.set('n', 1));
      expect(sessionCookie(res)).toBe(await signedCookie('fixed-id'));
      expect(await store.get('fixed-id')).toMatchObject({ n: 1 });
    });

    it('writes the exact express-session cookie value for a custom ID', async () => {
      vi.spyOn(console, 'warn').mockImplementation(() => {});
      const { engine } = setup({ genid: () => 'apple', secret: 'keyboard cat' });
      const { res } = await visit(engine, undefined, async (s) => s.set('n', 1));
      expect(sessionCookie(res)).toBe('sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU');
    });

    it.each([
      ['an empty string', () => ''],
      ['a number', () => 42 as unknown as string],
      ['a rejected promise', async () => Promise.reject(new Error('no id'))],
    ])('fails the load when genid returns %s', async (_label, genid) => {
      const { engine } = setup({ genid });
      await expect(engine.load(request()).load()).rejects.toThrow();
    });
  });

  describe('onEvent', () => {
    it('reports create, save, load, touch, regenerate and destroy without the session ID', async () => {
      const { engine, events } = setup({ touchAfter: 0 });
      const first = await visit(engine, undefined, async (s) => s.set('n', 1));
      expect(events).toEqual([{ type: 'create', reason: 'absent' }, { type: 'save' }]);
      events.length = 0;
      await visit(engine, first.cookie, (s) => s.get('n'));
      expect(events).toEqual([{ type: 'load' }, { type: 'touch' }]);
      events.length = 0;
      const second = await visit(engine, first.cookie, (s) => s.regenerate());
      expect(events).toEqual([{ type: 'load' }, { type: 'regenerate' }, { type: 'save' }]);
      events.length = 0;
      await visit(engine, second.cookie, (s) => s.destroy());
      expect(events).toEqual([{ type: 'load' }, { type: 'destroy' }]);
      const ids = [idOf(first.cookie!), idOf(second.cookie!)];
      for (const id of ids) expect(JSON.stringify(events)).not.toContain(id);
    });

    it('keeps serving when the event hook throws', async () => {
      const engine = createSessionEngine({
        secret: SECRET,
        store: createMemoryStore({ sweepInterval: 0 }),
        onEvent: () => {
          throw new Error('logger down');
        },
      });
      const session = engine.load(request());
      await session.set('n', 1);
      expect(sessionCookie(await engine.commit(session, new Response('ok')))).toBeDefined();
    });
  });
});

describe('createSessionEngine end to end against the express-session matrix', () => {
  // express-session.md §1.5: resave, saveUninitialized, rolling, then
  // new unmodified, new modified, existing unmodified, existing modified.
  const MATRIX: Array<[boolean, boolean, boolean, string, string, string, string]> = [
    [false, false, false, '—', 'C + set', 'touch', 'C + set'],
    [false, false, true, '—', 'C + set', 'C + touch', 'C + set'],
    [false, true, false, 'C + set', 'C + set', 'touch', 'C + set'],
    [false, true, true, 'C + set', 'C + set', 'C + touch', 'C + set'],
    [true, false, false, '—', 'C + set', 'set', 'C + set'],
    [true, false, true, '—', 'C + set', 'C + set', 'C + set'],
    [true, true, false, 'C + set', 'C + set', 'set', 'C + set'],
    [true, true, true, 'C + set', 'C + set', 'C + set', 'C + set'],
  ];
  const KINDS = ['new, unmodified', 'new, modified', 'existing, unmodified', 'existing, modified'] as const;
  const cases = [60_000, null].flatMap((maxAge) =>
    MATRIX.flatMap(([resave, saveUninitialized, rolling, ...cells]) =>
      KINDS.map((kind, i) => {
        let expected = cells[i]!;
        if (maxAge === null && kind === 'existing, modified' && !rolling) expected = 'set';
        return [maxAge, resave, saveUninitialized, rolling, kind, expected] as const;
      }),
    ),
  );

  it.each(cases)('maxAge %s, resave %s, saveUninitialized %s, rolling %s, %s: %s', async (maxAge, resave, saveUninitialized, rolling, kind, expected) => {
    const { engine, store } = setup({
      resave,
      saveUninitialized,
      rolling,
      // express-session touches on every request; the core's default write budget would not.
      touchAfter: 0,
      resendOnCookieChange: false,
      idleTimeout: null,
      absoluteTimeout: null,
      cookie: { maxAge, secure: false, sameSite: false },
    });
    let cookie: string | undefined;
    if (kind.startsWith('existing')) cookie = (await visit(engine, undefined, async (s) => s.set('n', 1))).cookie;
    const set = vi.spyOn(store, 'set');
    const touch = vi.spyOn(store, 'touch' as never);
    const { res } = await visit(
      engine,
      cookie,
      async (s) => {
        await s.load();
        if (kind.endsWith(', modified')) await s.set('n', 2);
      },
      'http://app.test/',
    );
    const sent = res.headers.getSetCookie();
    const parts = [sent.length > 0 ? 'C' : '', set.mock.calls.length > 0 ? 'set' : '', touch.mock.calls.length > 0 ? 'touch' : ''].filter(Boolean);
    expect(parts.length === 0 ? '—' : parts.join(' + ')).toBe(expected);
    expect(set.mock.calls.length + touch.mock.calls.length).toBeLessThanOrEqual(1);
    if (sent.length > 0) expect(sent[0]!.includes('Expires=')).toBe(maxAge !== null);
  });
});

describe('createSessionEngine reading express-session records', () => {
  it('loads a record written by express-session (no engine metadata, Date-string expires) on the same secret', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    const id = 'Ab3_x-'.repeat(5) + 'zz';
    const expires = new Date(Date.now() + 60_000).toISOString();
    await store.set(id, { cookie: { originalMaxAge: 60_000, expires, httpOnly: true, path: '/', sameSite: 'lax' }, views: 3 }, 60_000);
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { engine } = setup({ secret: 'keyboard cat', name: 'connect.sid' }, store);
    const cookie = `connect.sid=${encodeURIComponent(`s:${await createSigner(['keyboard cat']).sign(id)}`)}`;
    const { res, result } = await visit(engine, cookie, async (s) => {
      await s.load();
      return { isNew: s.isNew, views: await s.get('views'), keys: Object.keys(s.data), originalMaxAge: s.cookie.originalMaxAge };
    });
    expect(result).toEqual({ isNew: false, views: 3, keys: ['views'], originalMaxAge: 60_000 });
    expect(res.headers.getSetCookie()).toEqual([]);
  });
});

/**
 * Security reference §3 group E: prototype pollution through session JSON.
 *
 * Every case runs on every store of the matrix (memory, file, unstorage memory driver, KV fake,
 * express-session's MemoryStore; Redis and PostgreSQL when REDIS_URL / DATABASE_URL are set):
 * the polluting JSON is written into the backend as raw text (what a compromised or shared
 * store could hold) and then loaded, changed and saved through the engine. After each test
 * Object.prototype must be exactly as before. test/session.test.ts has the memory-store case of
 * E1/E2; this extends it to every store, to nested and flash data, and to the Express facade.
 *
 * Not applicable: E5 (a cookie-only payload that decrypts to polluting JSON): websession has no
 * cookie-only mode; the same JSON reaching the engine from a store is E2/E3.
 */
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import session from '../../adapters/express.ts';
import { createMemoryStore, createSessionEngine, type SessionEngine } from '../../src/index.ts';
import { committedPair, cookiePair, get, pairOf, SECRET, serveListener, storeCases, type StoreHandle } from './helpers.ts';

const COOKIE = '"cookie":{"originalMaxAge":null,"path":"/","httpOnly":true}';
const protoNames = Object.getOwnPropertyNames(Object.prototype).sort();

/**
 * Session data inherits nothing: every prototype in its chain is empty and frozen (so nothing can
 * be inherited now or added later), and Object.prototype is not among them.
 */
function expectInheritsNothing(data: object): void {
  for (let p = Object.getPrototypeOf(data) as object | null; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    expect(p).not.toBe(Object.prototype);
    expect(Reflect.ownKeys(p)).toEqual([]);
    expect(Object.isFrozen(p)).toBe(true);
  }
}

function expectPristine(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
  const probe = {} as Record<string, unknown>;
  expect([probe.isAdmin, probe.polluted, probe.admin, probe.user]).toEqual([undefined, undefined, undefined, undefined]);
  expect(Object.getPrototypeOf(probe)).toBe(Object.prototype);
  expect(typeof Object.prototype.hasOwnProperty).toBe('function');
  expect(typeof Object.prototype.toString).toBe('function');
}

afterEach(() => {
  expectPristine();
});

let seq = 0;
const freshId = (): string => `proto${Date.now().toString(36)}${(seq++).toString(36)}`.padEnd(43, 'x');

for (const c of storeCases()) {
  describe.skipIf(c.skip !== undefined)(`E. prototype pollution on ${c.name}${c.skip ? ` (skipped: ${c.skip})` : ''}`, () => {
    let handle: StoreHandle;
    let engine: SessionEngine;
    beforeAll(async () => {
      handle = await c.make();
      engine = createSessionEngine({ secret: SECRET, store: handle.store, idleTimeout: null, absoluteTimeout: null });
    });
    afterAll(async () => {
      await handle?.cleanup();
    });

    /** Writes `json` (a record's text) as session `id`, then loads it through the engine. */
    async function loadRaw(json: string) {
      const id = freshId();
      await handle.raw!(id, json);
      const cookie = await cookiePair('sid', id);
      return { id, cookie, session: await engine.load({ cookie, secure: true }).load() };
    }

    it("E1: set('__proto__', {isAdmin: true}) is stored as a literal own key and pollutes nothing", async () => {
      const s = engine.load({ secure: true });
      await s.set('__proto__' as never, { isAdmin: true } as never);
      await s.set('prototype' as never, { polluted: 1 } as never);
      const pair = await committedPair(engine, s);
      const record = (await handle.store.get(s.id))!;
      expect(Object.prototype.hasOwnProperty.call(record, '__proto__')).toBe(true);
      expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
      expect((record as Record<string, unknown>).isAdmin).toBeUndefined();
      const back = await engine.load({ cookie: pair, secure: true }).load();
      expect(await back.get('isAdmin' as never)).toBeUndefined();
      expect(await back.get('__proto__' as never)).toEqual({ isAdmin: true });
      expect(await back.get('prototype' as never)).toEqual({ polluted: 1 });
      expectInheritsNothing(back.data);
    });

    it('E2: a stored {"__proto__": {"isAdmin": true}} stays plain data, at the top, nested and in flash', async () => {
      const { cookie, session: s } = await loadRaw(
        `{"__proto__":{"isAdmin":true},"n":{"__proto__":{"admin":1}},${COOKIE},"_ws":{"c":${Date.now()},"a":${Date.now()},"v":1,"f":{"__proto__":{"user":"root"},"note":"hi"}}}`,
      );
      expect(s.isNew).toBe(false);
      expect(await s.get('isAdmin' as never)).toBeUndefined();
      expect(await s.has('__proto__' as never)).toBe(true);
      expectInheritsNothing(s.data);
      expect(((await s.get('n' as never)) as Record<string, unknown>).admin).toBeUndefined();
      expect(await s.flash('user')).toBeUndefined();
      expect(await s.flash('note')).toBe('hi');
      await s.set('touched', true);
      await engine.commit(s);
      // Saved back, the literal key survives and still pollutes nothing.
      const again = await engine.load({ cookie, secure: true }).load();
      expect(await again.get('__proto__' as never)).toEqual({ isAdmin: true });
      expect(await again.get('touched')).toBe(true);
      expect(await again.get('isAdmin' as never)).toBeUndefined();
    });

    it('E3: a stored {"constructor": {"prototype": {"polluted": 1}}} pollutes nothing and the session still works', async () => {
      const { cookie, session: s } = await loadRaw(`{"constructor":{"prototype":{"polluted":1}},"prototype":{"polluted":2},${COOKIE}}`);
      expect(s.isNew).toBe(false);
      expect(await s.get('constructor' as never)).toEqual({ prototype: { polluted: 1 } });
      expect(await s.get('polluted' as never)).toBeUndefined();
      await s.set('n', 1);
      await s.save();
      await s.regenerate({ keepData: true });
      const pair = await committedPair(engine, s);
      const moved = await engine.load({ cookie: pair, secure: true }).load();
      expect(await moved.get('n')).toBe(1);
      expect(await moved.get('constructor' as never)).toEqual({ prototype: { polluted: 1 } });
      expect((await engine.load({ cookie, secure: true }).load()).isNew).toBe(true);
    });

    it('E4: data keys named id, save, regenerate, _exp, hasOwnProperty cannot change the ID, the expiry or the methods; cookie and _ws are reserved', async () => {
      const past = new Date(Date.now() - 1000).toISOString();
      const { id, session: s } = await loadRaw(
        `{"id":"attacker","save":1,"regenerate":"x","destroy":null,"_exp":0,"expires":"${past}","hasOwnProperty":1,"toString":2,${COOKIE}}`,
      );
      expect(s.isNew).toBe(false);
      expect(s.id).toBe(id);
      expect(s.cookie.expires).toBeNull();
      expect(typeof s.save).toBe('function');
      expect(await s.get('id' as never)).toBe('attacker');
      expect(await s.has('hasOwnProperty' as never)).toBe(true);
      await expect(s.set('cookie', {} as never)).rejects.toMatchObject({ code: 'ERR_VALUE' });
      await expect(s.set('_ws', {} as never)).rejects.toMatchObject({ code: 'ERR_VALUE' });
      await s.set('n', 1);
      await s.save();
      await s.regenerate({ keepData: true });
      expect(s.id).not.toBe('attacker');
      const pair = await committedPair(engine, s);
      expect(pair).not.toContain('attacker');
      expect(await (await engine.load({ cookie: pair, secure: true }).load()).get('save' as never)).toBe(1);
    });
  });
}

describe('E. prototype pollution through the Express facade (req.session)', () => {
  it('E1/E2/E4 (Express): polluting keys set on or loaded into req.session stay data and never replace its methods', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    const app = express();
    app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false }));
    app.get('/set', (req, res) => {
      const s = req.session as unknown as Record<string, unknown>;
      s['__proto__'] = { isAdmin: true };
      s.constructor = { prototype: { polluted: 1 } };
      s.save = 'not a function';
      s.regenerate = 1;
      s.user = 'alice';
      res.json({ isAdmin: s.isAdmin ?? null });
    });
    app.get('/check', (req, res) => {
      const s = req.session as unknown as Record<string, unknown>;
      res.json({ isAdmin: s.isAdmin ?? null, save: typeof s.save, regenerate: typeof s.regenerate, user: s.user, proto: s['__proto__'], id: typeof s.id });
    });
    const server = await serveListener(app);
    try {
      const first = await get(server.url, '/set');
      expect(first.json).toEqual({ isAdmin: null });
      const cookie = pairOf(first.setCookie, 'connect.sid')!;
      const check = await get(server.url, '/check', { headers: { cookie } });
      expect(check.json).toEqual({ isAdmin: null, save: 'function', regenerate: 'function', user: 'alice', proto: { isAdmin: true }, id: 'string' });
    } finally {
      await server.close();
    }
  });
});

import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore } from '../../src/stores/memory.ts';
import type { SessionRecord } from '../../src/store.ts';

const T0 = Date.UTC(2030, 0, 1);

function record(data: Record<string, unknown> = {}, meta: Partial<NonNullable<SessionRecord['_ws']>> = {}): SessionRecord {
  return {
    cookie: { originalMaxAge: 60_000, expires: new Date(T0 + 60_000).toISOString(), path: '/', httpOnly: true },
    _ws: { c: T0, a: T0, v: 1, ...meta },
    ...data,
  };
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('createMemoryStore', () => {
  it('declares its capabilities as data', () => {
    expect(createMemoryStore({ sweepInterval: 0 }).capabilities).toEqual({ nativeTtl: true, consistency: 'strong', compareAndSet: true, listing: true });
  });

  it('reads back what was written, and nothing for an unknown ID', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    const r = record({ user: { name: 'ada' }, list: [1, 2] });
    expect(await store.set('a', r, 60_000)).toBe(true);
    expect(await store.get('a')).toEqual(r);
    expect(await store.get('b')).toBeUndefined();
    expect(store.length).toBe(1);
  });

  it('hands out a fresh copy on every read, and keeps no reference to the written object', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    const r = record({ list: [1] });
    await store.set('a', r, 60_000);
    (r.list as number[]).push(99);
    const first = await store.get('a');
    (first!.list as number[]).push(2);
    const second = await store.get('a');
    expect(second).not.toBe(first);
    expect(second!.list).toEqual([1]);
  });

  it('destroys a record, and destroying a missing one is not an error', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    await store.set('a', record(), 60_000);
    await store.destroy('a');
    await expect(store.destroy('a')).resolves.toBeUndefined();
    expect(await store.get('a')).toBeUndefined();
    expect(store.length).toBe(0);
  });

  it('keeps keys like __proto__ as data', async () => {
    const store = createMemoryStore({ sweepInterval: 0 });
    await store.set('a', JSON.parse('{"__proto__":{"isAdmin":true},"cookie":{"originalMaxAge":null}}') as SessionRecord, 60_000);
    const got = await store.get('a');
    expect(Object.prototype.hasOwnProperty.call(got, '__proto__')).toBe(true);
    expect((got as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  describe('TTL', () => {
    it('expires a record after its TTL (the instant itself is expired)', async () => {
      vi.useFakeTimers({ now: T0 });
      const store = createMemoryStore({ sweepInterval: 0 });
      await store.set('a', record(), 1_000);
      vi.setSystemTime(T0 + 999);
      expect(await store.get('a')).toBeDefined();
      vi.setSystemTime(T0 + 1_000);
      expect(await store.get('a')).toBeUndefined();
      expect(store.length).toBe(0);
    });

    it('restarts the TTL on every write', async () => {
      vi.useFakeTimers({ now: T0 });
      const store = createMemoryStore({ sweepInterval: 0 });
      await store.set('a', record(), 1_000);
      vi.setSystemTime(T0 + 800);
      await store.set('a', record({ n: 2 }), 1_000);
      vi.setSystemTime(T0 + 1_500);
      expect(await store.get('a')).toMatchObject({ n: 2 });
    });
  });

  describe('touch', () => {
    it('extends the TTL and replaces the cookie and last-seen time, keeping the stored data', async () => {
      vi.useFakeTimers({ now: T0 });
      const store = createMemoryStore({ sweepInterval: 0 });
      await store.set('a', record({ n: 1 }), 1_000);
      vi.setSystemTime(T0 + 900);
      const newer = record({ n: 'not written by touch' }, { a: T0 + 900, v: 7 });
      newer.cookie = { ...newer.cookie, expires: new Date(T0 + 60_900).toISOString() };
      await store.touch!('a', newer, 1_000);
      vi.setSystemTime(T0 + 1_800);
      const got = await store.get('a');
      expect(got).toMatchObject({ n: 1, cookie: { expires: new Date(T0 + 60_900).toISOString() }, _ws: { a: T0 + 900, v: 1 } });
    });

    it('touches a record in the engine\'s key order (cookie, _ws with a first) without parsing it, keeping its data', async () => {
      const store = createMemoryStore({ sweepInterval: 0 });
      const written: SessionRecord = { cookie: { originalMaxAge: 1000, expires: 'x', path: '/' }, _ws: { a: 5, c: 1, v: 3, u: 'bob' }, user: 'alice', nested: { a: [1, { b: '}' }] } };
      await store.set('a', written, 60_000);
      const parse = vi.spyOn(JSON, 'parse');
      for (const a of [6, 70, 8_000_000_000_000]) {
        parse.mockClear();
        await store.touch!('a', { cookie: { originalMaxAge: 1000, expires: `e${a}`, path: '/' }, _ws: { a, c: 99, v: 99 }, user: 'not written' }, 60_000);
        expect(parse).not.toHaveBeenCalled();
        expect(await store.get('a')).toEqual({ ...written, cookie: { originalMaxAge: 1000, expires: `e${a}`, path: '/' }, _ws: { a, c: 1, v: 3, u: 'bob' } });
      }
    });

    it('stores after a touch exactly what a parse, replace and serialise would, whatever the record looks like', async () => {
      const text = fc.oneof(fc.string(), fc.constantFrom('{', '}', '[', '"', '\\', ',"_ws":{"a":', '","_ws":{"a":1}', '\\"'));
      const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
        value: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(text, tie('value'), { maxKeys: 3 })),
      })).value;
      const cookie = fc.oneof(
        fc.record({ originalMaxAge: fc.oneof(fc.integer(), fc.constant(null)), expires: fc.string(), path: fc.string(), httpOnly: fc.boolean() }),
        fc.record({ originalMaxAge: fc.integer(), expires: text, path: text }),
        fc.dictionary(text, json, { maxKeys: 3 }),
      );
      const seen = fc.oneof(fc.nat(), fc.nat(), fc.integer(), fc.double(), fc.constant(undefined));
      const meta = fc.oneof(
        fc.record({ a: seen, c: fc.nat(), v: fc.nat() }),
        fc.record({ a: seen, c: fc.nat(), v: fc.nat(), f: fc.dictionary(text, json, { maxKeys: 2 }) }),
        fc.record({ c: fc.nat(), a: seen, v: fc.nat() }),
        fc.constant(undefined),
      );
      const stored = fc.tuple(cookie, meta, fc.dictionary(text, json, { maxKeys: 4 })).map(([c, m, data]) => {
        const r: Record<string, unknown> = { cookie: c };
        if (m !== undefined) r._ws = m;
        for (const [k, v] of Object.entries(data)) if (k !== 'cookie' && k !== '_ws' && k !== '__proto__') r[k] = v;
        return r as SessionRecord;
      });
      await fc.assert(
        fc.asyncProperty(stored, fc.array(fc.tuple(cookie, fc.nat()), { minLength: 1, maxLength: 3 }), async (first, touches) => {
          const store = createMemoryStore({ sweepInterval: 0 });
          await store.set('id', first, 60_000);
          let expected = JSON.parse(JSON.stringify(first)) as SessionRecord;
          for (const [c, a] of touches) {
            await store.touch!('id', { cookie: c, _ws: { a, c: 0, v: 0 } } as SessionRecord, 60_000);
            expected.cookie = JSON.parse(JSON.stringify(c)) as SessionRecord['cookie'];
            if (expected._ws) expected._ws.a = a;
            expected = JSON.parse(JSON.stringify(expected)) as SessionRecord;
          }
          expect(await store.get('id')).toEqual(expected);
        }),
        { numRuns: 500 },
      );
    });

    it('never creates a record', async () => {
      const store = createMemoryStore({ sweepInterval: 0 });
      await store.touch!('missing', record(), 1_000);
      expect(await store.get('missing')).toBeUndefined();
      expect(store.length).toBe(0);
    });

    it('does not revive an expired record', async () => {
      vi.useFakeTimers({ now: T0 });
      const store = createMemoryStore({ sweepInterval: 0 });
      await store.set('a', record(), 1_000);
      vi.setSystemTime(T0 + 1_000);
      await store.touch!('a', record(), 1_000);
      expect(await store.get('a')).toBeUndefined();
    });
  });

  describe('records read often', () => {
    it('hands out a fresh copy of a hot record: changing one never shows in the next read', async () => {
      const store = createMemoryStore({ sweepInterval: 0 });
      await store.set('a', record({ user: 'ada', n: 1 }), 60_000);
      for (let i = 0; i < 3; i++) {
        const got = await store.get('a');
        expect(got).toStrictEqual(JSON.parse(JSON.stringify(record({ user: 'ada', n: 1 }))));
        got!.user = 'mallory';
        got!.cookie.path = '/elsewhere';
        got!._ws!.v = 99;
      }
    });

    it('parses a hot record once, and again only after it changed in a way it cannot follow', async () => {
      const store = createMemoryStore({ sweepInterval: 0 });
      // The engine's layout: cookie, then _ws with `a` first, then the data.
      const engineRecord = (n: unknown, a = T0): SessionRecord => ({ cookie: record().cookie, _ws: { a, c: T0, v: 1 }, n });
      await store.set('a', engineRecord(1), 60_000);
      const parse = vi.spyOn(JSON, 'parse');
      await store.get('a');
      await store.get('a');
      expect(parse).toHaveBeenCalledTimes(1);
      // A flat write and a touch are followed without a parse.
      await store.set('a', engineRecord(2), 60_000);
      await store.touch!('a', engineRecord('not written', T0 + 5), 60_000);
      expect(await store.get('a')).toMatchObject({ n: 2, _ws: { a: T0 + 5 } });
      expect(parse).toHaveBeenCalledTimes(1);
      // Nested data is never kept parsed: every read parses it afresh.
      await store.set('a', engineRecord({ deep: true }), 60_000);
      await store.get('a');
      await store.get('a');
      expect(parse).toHaveBeenCalledTimes(3);
    });

    it('reads exactly what was last written or touched, whatever the values, in any order of reads, writes and touches', async () => {
      const primitive = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constantFrom(-0, 0, NaN, Infinity, true, false, null, undefined, '__proto__'));
      const value = fc.oneof(primitive, primitive, fc.array(primitive, { maxLength: 2 }), fc.dictionary(fc.string(), primitive, { maxKeys: 2 }), fc.date({ noInvalidDate: true }));
      const cookie = fc.oneof(
        fc.record({ originalMaxAge: fc.oneof(fc.integer(), fc.constant(null)), expires: fc.oneof(fc.string(), fc.constant(null), fc.constant(undefined)), path: fc.string(), httpOnly: fc.boolean(), secure: fc.constant(undefined) }),
        fc.dictionary(fc.string(), value, { maxKeys: 3 }),
      );
      const meta = fc.oneof(fc.record({ a: fc.nat(), c: fc.nat(), v: fc.nat() }), fc.record({ a: fc.nat(), c: fc.nat(), v: fc.nat(), u: fc.oneof(fc.string(), fc.constant(undefined)) }), fc.constant(undefined));
      const stored = fc.tuple(cookie, meta, fc.dictionary(fc.string(), value, { maxKeys: 3 })).map(([c, m, data]) => {
        const r: Record<string, unknown> = { cookie: c };
        if (m !== undefined) r._ws = m;
        for (const [k, v] of Object.entries(data)) if (k !== 'cookie' && k !== '_ws' && k !== '__proto__') r[k] = v;
        return r as SessionRecord;
      });
      const op = fc.oneof(
        fc.record({ kind: fc.constant('set' as const), record: stored }),
        fc.record({ kind: fc.constant('touch' as const), cookie, a: fc.nat() }),
        fc.record({ kind: fc.constant('get' as const) }),
      );
      await fc.assert(
        fc.asyncProperty(stored, fc.array(op, { minLength: 1, maxLength: 8 }), async (first, ops) => {
          const store = createMemoryStore({ sweepInterval: 0 });
          await store.set('id', first, 60_000);
          // The model: the record as JSON, changed the way the store contract says.
          let expected = JSON.parse(JSON.stringify(first)) as SessionRecord;
          for (const o of [{ kind: 'get' as const }, ...ops]) {
            if (o.kind === 'set') {
              await store.set('id', o.record, 60_000);
              expected = JSON.parse(JSON.stringify(o.record)) as SessionRecord;
            } else if (o.kind === 'touch') {
              await store.touch!('id', { cookie: o.cookie, _ws: { a: o.a, c: 0, v: 0 } } as SessionRecord, 60_000);
              expected.cookie = JSON.parse(JSON.stringify(o.cookie)) as SessionRecord['cookie'];
              if (expected._ws) expected._ws.a = o.a;
              expected = JSON.parse(JSON.stringify(expected)) as SessionRecord;
            } else {
              const got = await store.get('id');
              expect(got).toStrictEqual(expected);
              // Whatever the app does to its copy stays out of the store.
              (got as Record<string, unknown>).scribble = 1;
              got!.cookie.path = 'scribbled';
            }
          }
          expect(await store.get('id')).toStrictEqual(expected);
        }),
        { numRuns: 400 },
      );
    });

    it('keeps at most 1,024 records parsed, and only the ones read', async () => {
      const store = createMemoryStore({ sweepInterval: 0 });
      for (let i = 0; i < 2_000; i++) await store.set(`s${i}`, record({ i }), 60_000);
      const parse = vi.spyOn(JSON, 'parse');
      for (let i = 0; i < 2_000; i++) await store.get(`s${i}`);
      expect(parse).toHaveBeenCalledTimes(2_000);
      parse.mockClear();
      // The first 976 fell out of the bounded set; the last 1,024 are still parsed.
      for (let i = 0; i < 2_000; i++) await store.get(`s${i}`);
      expect(parse.mock.calls.length).toBeGreaterThanOrEqual(976);
      parse.mockClear();
      for (let i = 1_976; i < 2_000; i++) await store.get(`s${i}`);
      expect(parse).not.toHaveBeenCalled();
    });
  });

  describe('maxEntries', () => {
    it('evicts the least recently written entry when full', async () => {
      const store = createMemoryStore({ sweepInterval: 0, maxEntries: 3 });
      for (const id of ['a', 'b', 'c']) await store.set(id, record(), 60_000);
      await store.set('a', record({ rewritten: true }), 60_000);
      await store.set('d', record(), 60_000);
      expect(store.length).toBe(3);
      expect(await store.get('b')).toBeUndefined();
      for (const id of ['a', 'c', 'd']) expect(await store.get(id)).toBeDefined();
      await store.set('e', record(), 60_000);
      expect(await store.get('c')).toBeUndefined();
    });

    it('stays bounded under a flood of new sessions', async () => {
      const store = createMemoryStore({ sweepInterval: 0, maxEntries: 100 });
      for (let i = 0; i < 5_000; i++) await store.set(`id-${i}`, record({}, { u: `user-${i}` }), 60_000);
      expect(store.length).toBe(100);
      expect(await store.get('id-4999')).toBeDefined();
      expect(await store.get('id-4899')).toBeUndefined();
      // The per-user index shrinks with it.
      expect(await store.listByUser!('user-0')).toEqual([]);
    });

    it('always evicts the least recently written or touched entry, in any order of writes, touches, destroys, reads and clears', async () => {
      const id = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g');
      const op = fc.oneof(
        { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), id }) },
        fc.record({ kind: fc.constant('touch' as const), id }),
        fc.record({ kind: fc.constant('destroy' as const), id }),
        fc.record({ kind: fc.constant('get' as const), id }),
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const) }) },
      );
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), async (maxEntries, ops) => {
          const store = createMemoryStore({ sweepInterval: 0, maxEntries });
          // The model: IDs from least to most recently written or touched.
          let order: string[] = [];
          for (const o of ops) {
            if (o.kind === 'set') {
              await store.set(o.id, record({ id: o.id }), 60_000);
              order = [...order.filter((x) => x !== o.id), o.id].slice(-maxEntries);
            } else if (o.kind === 'touch') {
              await store.touch!(o.id, record(), 60_000);
              if (order.includes(o.id)) order = [...order.filter((x) => x !== o.id), o.id];
            } else if (o.kind === 'destroy') {
              await store.destroy(o.id);
              order = order.filter((x) => x !== o.id);
            } else if (o.kind === 'get') {
              expect((await store.get(o.id)) !== undefined).toBe(order.includes(o.id));
            } else {
              store.clear();
              order = [];
            }
            expect(store.length).toBe(order.length);
          }
          for (const x of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) expect((await store.get(x))?.id).toBe(order.includes(x) ? x : undefined);
        }),
        { numRuns: 500 },
      );
    });

    it.each([0, -1, 1.5, Number.NaN])('rejects maxEntries %s', (maxEntries) => {
      expect(() => createMemoryStore({ maxEntries })).toThrow(/maxEntries/);
    });
  });

  describe('sweep', () => {
    it('removes expired entries and keeps live ones', async () => {
      vi.useFakeTimers({ now: T0, toFake: ['Date'] });
      const store = createMemoryStore({ sweepInterval: 0 });
      await store.set('short', record(), 1_000);
      await store.set('long', record(), 10_000);
      vi.setSystemTime(T0 + 5_000);
      expect(await store.sweep()).toBe(1);
      expect(store.length).toBe(1);
      expect(await store.get('long')).toBeDefined();
    });

    it('works through 200k expired entries in chunks, giving the event loop control between chunks', async () => {
      vi.useFakeTimers({ now: T0, toFake: ['Date'] });
      const store = createMemoryStore({ sweepInterval: 0, sweepChunk: 5_000, maxEntries: 300_000 });
      const r = record();
      for (let i = 0; i < 200_000; i++) await store.set(`id-${i}`, r, 1_000);
      await store.set('live', r, 60_000);
      vi.setSystemTime(T0 + 2_000);
      let turns = 0;
      let running = true;
      const tick = (): void => {
        turns++;
        if (running) setImmediate(tick);
      };
      setImmediate(tick);
      const removed = await store.sweep();
      running = false;
      expect(removed).toBe(200_000);
      expect(store.length).toBe(1);
      // 40 chunks: the loop must have run many times while the sweep was in progress.
      expect(turns).toBeGreaterThanOrEqual(20);
    });

    it('does not yield at all for a small store', async () => {
      const store = createMemoryStore({ sweepInterval: 0, sweepChunk: 5_000 });
      await store.set('a', record(), 60_000);
      let turns = 0;
      setImmediate(() => turns++);
      await store.sweep();
      expect(turns).toBe(0);
    });

    it('shares one run between concurrent calls', async () => {
      vi.useFakeTimers({ now: T0, toFake: ['Date'] });
      const store = createMemoryStore({ sweepInterval: 0, sweepChunk: 10 });
      for (let i = 0; i < 100; i++) await store.set(`id-${i}`, record(), 1_000);
      vi.setSystemTime(T0 + 2_000);
      const [a, b] = await Promise.all([store.sweep(), store.sweep()]);
      expect(a).toBe(100);
      expect(b).toBe(100);
    });
  });

  describe('sweep timer', () => {
    it('starts on the first write, once, unref\'d', async () => {
      const setInterval = vi.spyOn(globalThis, 'setInterval');
      const store = createMemoryStore({ sweepInterval: 30_000 });
      expect(setInterval).not.toHaveBeenCalled();
      await store.get('a');
      await store.destroy('a');
      expect(setInterval).not.toHaveBeenCalled();
      await store.set('a', record(), 60_000);
      await store.set('b', record(), 60_000);
      expect(setInterval).toHaveBeenCalledTimes(1);
      expect(setInterval.mock.calls[0]![1]).toBe(30_000);
      const timer = setInterval.mock.results[0]!.value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
      store.close();
    });

    it('sweeps expired entries on its interval', async () => {
      vi.useFakeTimers({ now: T0 });
      const store = createMemoryStore({ sweepInterval: 1_000 });
      await store.set('a', record(), 500);
      await store.set('b', record(), 5_000);
      expect(store.length).toBe(2);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(store.length).toBe(1);
      store.close();
    });

    it('stops on close()', async () => {
      vi.useFakeTimers({ now: T0 });
      const store = createMemoryStore({ sweepInterval: 1_000 });
      await store.set('a', record(), 500);
      store.close();
      await vi.advanceTimersByTimeAsync(5_000);
      expect(store.length).toBe(1);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('never starts with sweepInterval 0', async () => {
      const setInterval = vi.spyOn(globalThis, 'setInterval');
      const store = createMemoryStore({ sweepInterval: 0 });
      await store.set('a', record(), 60_000);
      expect(setInterval).not.toHaveBeenCalled();
    });
  });

  describe('listByUser', () => {
    it('lists the live sessions of one user with their records', async () => {
      vi.useFakeTimers({ now: T0 });
      const store = createMemoryStore({ sweepInterval: 0 });
      await store.set('a', record({ n: 1 }, { u: 'ada' }), 60_000);
      await store.set('b', record({ n: 2 }, { u: 'ada' }), 1_000);
      await store.set('c', record({ n: 3 }, { u: 'grace' }), 60_000);
      await store.set('d', record({ n: 4 }), 60_000);
      expect((await store.listByUser!('ada')).map((s) => s.id).sort()).toEqual(['a', 'b']);
      vi.setSystemTime(T0 + 1_000);
      expect(await store.listByUser!('ada')).toEqual([{ id: 'a', record: record({ n: 1 }, { u: 'ada' }) }]);
      expect(await store.listByUser!('nobody')).toEqual([]);
    });

    it('follows destroys and changes of user', async () => {
      const store = createMemoryStore({ sweepInterval: 0 });
      await store.set('a', record({}, { u: 'ada' }), 60_000);
      await store.set('b', record({}, { u: 'ada' }), 60_000);
      await store.destroy('a');
      await store.set('b', record({}, { u: 'grace' }), 60_000);
      expect(await store.listByUser!('ada')).toEqual([]);
      expect((await store.listByUser!('grace')).map((s) => s.id)).toEqual(['b']);
      store.clear();
      expect(await store.listByUser!('grace')).toEqual([]);
      expect(store.length).toBe(0);
    });
  });

  describe('write conditions', () => {
    it('with onlyIfExists writes only over an existing, unexpired record', async () => {
      vi.useFakeTimers({ now: T0 });
      const store = createMemoryStore({ sweepInterval: 0 });
      expect(await store.set('a', record({ n: 1 }), 1_000, { onlyIfExists: true })).toBe(false);
      expect(await store.get('a')).toBeUndefined();
      await store.set('a', record({ n: 1 }), 1_000);
      expect(await store.set('a', record({ n: 2 }), 1_000, { onlyIfExists: true })).toBe(true);
      expect(await store.get('a')).toMatchObject({ n: 2 });
      vi.setSystemTime(T0 + 1_000);
      expect(await store.set('a', record({ n: 3 }), 1_000, { onlyIfExists: true })).toBe(false);
      expect(await store.get('a')).toBeUndefined();
    });

    it('with ifVersion writes only when the stored version matches', async () => {
      const store = createMemoryStore({ sweepInterval: 0 });
      expect(await store.set('a', record({ n: 1 }, { v: 1 }), 60_000, { ifVersion: 0 })).toBe(true);
      expect(await store.set('a', record({ n: 2 }, { v: 2 }), 60_000, { ifVersion: 0 })).toBe(false);
      expect(await store.get('a')).toMatchObject({ n: 1 });
      expect(await store.set('a', record({ n: 2 }, { v: 2 }), 60_000, { ifVersion: 1 })).toBe(true);
      expect(await store.get('a')).toMatchObject({ n: 2, _ws: { v: 2 } });
    });

    it('lets exactly one of two writers that read the same version win', async () => {
      const store = createMemoryStore({ sweepInterval: 0 });
      await store.set('a', record({ n: 0 }, { v: 1 }), 60_000);
      const results = await Promise.all([
        store.set('a', record({ n: 'first' }, { v: 2 }), 60_000, { ifVersion: 1 }),
        store.set('a', record({ n: 'second' }, { v: 2 }), 60_000, { ifVersion: 1 }),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.get('a')).toMatchObject({ n: 'first' });
    });
  });
});

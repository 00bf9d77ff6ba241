/**
 * The store contract suite, exported so third-party stores can run the same tests as the
 * built-in ones. It needs only `describe` and `it` from the host test runner and asserts with
 * its own helpers (plain thrown `Error`s), so it runs unchanged under vitest, `node:test`,
 * Bun, Deno and inside workerd.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'; // or 'node:test', 'bun:test', '@std/testing/bdd'
 * import { runStoreContract } from 'websession/testing';
 * runStoreContract('my store', ({ onCorrupt }) => ({
 *   store: createMyStore({ onCorrupt }),
 *   corrupt: (id, raw) => backend.writeRaw('sess:' + id, raw),
 * }), { describe, it });
 * ```
 * @module
 */
import type { ListedSession, RecordMeta, SessionRecord, Store } from './store.ts';

/** The two functions the suite needs from a test runner. */
export interface ContractRunner {
  /** Groups tests; called synchronously with a callback that registers tests. */
  describe(name: string, fn: () => void): unknown;
  /** Registers one async test. Only `(name, fn)` is passed, which every runner accepts. */
  it(name: string, fn: () => Promise<void>): unknown;
}

/** Handed to the factory on every test: wire `onCorrupt` into the store's option of that name. */
export interface StoreContractContext {
  /** Records a corrupted-data report; the suite checks that corrupt records are reported. */
  onCorrupt(id: string, error?: unknown): void;
}

/** A fresh store plus the optional hooks that unlock more of the suite. */
export interface StoreContractHarness {
  /** The store under test; fresh for each test (it may share a backend, IDs are random). */
  store: Store;
  /**
   * Writes `raw` as the stored value of session `id`, bypassing the store (garbage, truncated
   * JSON, `null`, `42`, ...). Return `false` when the backend cannot hold that value (a JSON
   * column rejecting `{bad`); the suite then skips that payload.
   */
  corrupt?(id: string, raw: string): Promise<boolean | void> | boolean | void;
  /** Returns a store of the same kind whose backend fails every call (closed client, throwing binding). */
  failing?(): Store | Promise<Store>;
  /** Moves the store's clock forward instead of waiting in real time (a fake clock). */
  advance?(ms: number): Promise<void> | void;
  /** Runs after each test (close clients the factory opened, remove temp dirs). */
  cleanup?(): Promise<void> | void;
}

/** Returns a store or a harness; may be async. */
export type StoreContractFactory = (context: StoreContractContext) => Store | StoreContractHarness | Promise<Store | StoreContractHarness>;

/** Tuning for backends with coarse clocks or write throttles. */
export interface StoreContractOptions {
  /** A short TTL used by the expiry tests, in ms. @default 400 */
  ttlMs?: number | undefined;
  /** Extra wait past a TTL before expecting the record gone, in ms. @default 300 */
  slackMs?: number | undefined;
  /** Minimum time between a write and a `touch` that must reach the backend (KV throttles touches to one per second). @default 0 */
  touchAfterMs?: number | undefined;
  /** Whether a corrupt record must be reported through `onCorrupt`. @default true */
  reportsCorrupt?: boolean | undefined;
  /** Test names (or substrings of them) to skip, for a store with a documented deviation. */
  skip?: readonly string[] | undefined;
}

// ---------------------------------------------------------------------------------------------
// Assertions: plain Errors, so any runner reports them.

function fail(message: string): never {
  throw new Error(`store contract: ${message}`);
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message);
}

function show(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 300 ? `${text.slice(0, 300)}...` : text;
  } catch {
    return String(value);
  }
}

/** Structural equality of JSON values; object key order is ignored. */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((item, i) => jsonEqual(item, bb[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ob = b as Record<string, unknown>;
  return ka.every((key) => Object.prototype.hasOwnProperty.call(ob, key) && jsonEqual((a as Record<string, unknown>)[key], ob[key]));
}

function assertJsonEqual(actual: unknown, expected: unknown, what: string): void {
  if (!jsonEqual(actual, expected)) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}

/** What a store must give back for `record`: the record as JSON would carry it. */
function asStored(record: unknown): unknown {
  return JSON.parse(JSON.stringify(record));
}

async function assertStoreError(run: () => Promise<unknown>, operation: string): Promise<void> {
  let promise: Promise<unknown>;
  try {
    promise = run();
  } catch (err) {
    fail(`${operation} threw synchronously (${show(err instanceof Error ? err.message : err)}); it must reject`);
  }
  let error: unknown;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  assert(error !== undefined, `${operation} on a failing backend resolved; it must reject`);
  const e = error as { name?: unknown; code?: unknown; cause?: unknown };
  assert(error instanceof Error, `${operation} rejected with a non-Error: ${show(error)}`);
  assert(e.name === 'SessionError' && e.code === 'ERR_STORE', `${operation} must reject with SessionError code ERR_STORE, got ${String(e.name)} ${String(e.code)}: ${(error as Error).message}`);
  assert(e.cause !== undefined, `${operation}: the SessionError must carry the backend error as cause`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let counter = 0;
function randomId(label: string): string {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return `contract-${label}-${(counter++).toString(36)}-${hex}`;
}

/** A record as the engine writes it: data, cookie with ISO `expires`, and `_ws` metadata. */
function makeRecord(ttlMs: number, data: Record<string, unknown> = {}, meta: Partial<RecordMeta> = {}): SessionRecord {
  const now = Date.now();
  const record: SessionRecord = {
    cookie: { originalMaxAge: ttlMs, expires: new Date(now + ttlMs).toISOString(), path: '/', httpOnly: true, secure: false, sameSite: 'lax' },
  };
  for (const key of Object.keys(data)) record[key] = data[key];
  const ws: RecordMeta = { c: now, a: now, v: 1 };
  for (const [key, value] of Object.entries(meta)) (ws as unknown as Record<string, unknown>)[key] = value;
  record._ws = ws;
  return record;
}

/** Values that stores commonly mangle. */
function trickyData(): Record<string, unknown> {
  // JSON.parse keeps "__proto__" as an own key, as a store's own JSON.parse would.
  const withProto = JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') as Record<string, unknown>;
  return {
    ascii: 'plain',
    latin: 'héllo wörld',
    cjk: '日本語のテキスト',
    emoji: '😀👩‍👩‍👧‍👦🏳️‍🌈',
    loneHigh: '\uD800',
    loneLow: 'x\uDC00y',
    reversed: '\u202Eevil',
    nul: 'a\u0000b',
    control: '\u0001\u001f\u007f\t\r\n',
    quotes: `"'\\\`</script>`,
    empty: '',
    '': 'empty key',
    'a.b': 'dotted key',
    'a[b]': 'bracket key',
    '😀': 'emoji key',
    numbers: [0, -1.5, 1e21, Number.MAX_SAFE_INTEGER, -0.000001],
    flags: [true, false, null],
    nested: { deep: { deeper: { deepest: [1, [2, [3, { four: 'four' }]]] } }, list: [{ a: 1 }, { b: [] }, {}] },
    proto: withProto,
    long: 'x'.repeat(20_000),
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * Registers the store contract tests for one store. `factory` is called once per test and
 * must return a fresh store (or a harness with hooks). Tests adapt to `store.capabilities`:
 * compare-and-set, listing, touch and `touchKeepsRecord` unlock or relax their checks.
 */
export function runStoreContract(name: string, factory: StoreContractFactory, runner: ContractRunner, options: StoreContractOptions = {}): void {
  const ttl = options.ttlMs ?? 400;
  const slack = options.slackMs ?? 300;
  const touchAfter = options.touchAfterMs ?? 0;
  const reportsCorrupt = options.reportsCorrupt ?? true;
  const skip = options.skip ?? [];
  const { describe, it } = runner;

  interface Env {
    store: Store;
    harness: StoreContractHarness;
    corruptions: { id: string; error: unknown }[];
    wait(ms: number): Promise<void>;
  }

  const test = (title: string, run: (env: Env) => Promise<void>, when: (store: Store) => boolean = () => true): void => {
    if (skip.some((s) => title.includes(s))) return;
    it(title, async () => {
      const corruptions: { id: string; error: unknown }[] = [];
      const made = await factory({ onCorrupt: (id, error) => void corruptions.push({ id, error }) });
      const harness: StoreContractHarness = 'capabilities' in made && !('store' in made) ? { store: made } : (made as StoreContractHarness);
      const store = harness.store;
      try {
        if (!when(store)) return; // capability not declared: nothing to check
        const wait = async (ms: number): Promise<void> => {
          if (harness.advance) await harness.advance(ms);
          else await sleep(ms);
        };
        await run({ store, harness, corruptions, wait });
      } finally {
        try {
          await store.close?.();
        } finally {
          await harness.cleanup?.();
        }
      }
    });
  };

  const hasTouch = (s: Store): boolean => typeof s.touch === 'function';
  const cas = (s: Store): boolean => s.capabilities.compareAndSet;
  const listing = (s: Store): boolean => s.capabilities.listing && typeof s.listByUser === 'function';

  describe(`store contract: ${name}`, () => {
    test('declares its capabilities as data', async ({ store }) => {
      const c = store.capabilities;
      assert(c !== null && typeof c === 'object', 'capabilities must be an object');
      assert(typeof c.nativeTtl === 'boolean', 'capabilities.nativeTtl must be a boolean');
      assert(c.consistency === 'strong' || c.consistency === 'eventual', "capabilities.consistency must be 'strong' or 'eventual'");
      assert(typeof c.compareAndSet === 'boolean', 'capabilities.compareAndSet must be a boolean');
      assert(typeof c.listing === 'boolean', 'capabilities.listing must be a boolean');
      assert(c.touchKeepsRecord === undefined || typeof c.touchKeepsRecord === 'boolean', 'capabilities.touchKeepsRecord must be a boolean when present');
      if (c.listing) assert(typeof store.listByUser === 'function', 'a store declaring listing must implement listByUser');
      if (c.touchKeepsRecord) assert(typeof store.touch === 'function', 'a store declaring touchKeepsRecord must implement touch');
    });

    test('get of a missing key resolves undefined', async ({ store }) => {
      assert((await store.get(randomId('missing'))) === undefined, 'get of a never-written id must resolve undefined');
    });

    test('destroy of a missing key resolves', async ({ store }) => {
      await store.destroy(randomId('missing'));
    });

    test('set then get round-trips the record unchanged', async ({ store }) => {
      const id = randomId('roundtrip');
      const record = makeRecord(60_000, { user: 'alice', count: 3 });
      await store.set(id, record, 60_000);
      assertJsonEqual(await store.get(id), asStored(record), 'get after set');
    });

    test('unicode, control characters, lone surrogates, odd keys and nesting round-trip exactly', async ({ store }) => {
      const id = randomId('unicode');
      const record = makeRecord(60_000, trickyData());
      await store.set(id, record, 60_000);
      const got = await store.get(id);
      assertJsonEqual(got, asStored(record), 'tricky record');
      const g = got as Record<string, unknown>;
      assert(g.loneHigh === '\uD800' && g.loneLow === 'x\uDC00y', 'lone surrogates must survive as the same code units');
      assert(g.nul === 'a\u0000b', 'NUL inside a string must survive');
      assert(({} as Record<string, unknown>).polluted === undefined, 'reading a record must not pollute Object.prototype');
    });

    test('Dates come back as the ISO strings JSON makes of them', async ({ store }) => {
      const id = randomId('dates');
      const when = new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789));
      const record = makeRecord(60_000, { when, list: [when] });
      await store.set(id, record, 60_000);
      const got = (await store.get(id)) as Record<string, unknown> | undefined;
      assert(got !== undefined, 'record missing');
      assert(got.when === '2024-02-29T12:34:56.789Z', `a Date must come back as its ISO string, got ${show(got.when)}`);
      assertJsonEqual(got, asStored(record), 'record with Dates');
    });

    test('get returns a copy: mutating it does not change the stored record', async ({ store }) => {
      const id = randomId('copy');
      const record = makeRecord(60_000, { list: [1, 2] });
      await store.set(id, record, 60_000);
      const first = (await store.get(id)) as Record<string, unknown>;
      (first.list as number[]).push(3);
      first.extra = true;
      record.list = 'mutated after set';
      assertJsonEqual(await store.get(id), asStored(makeRecordLike(record, { list: [1, 2] })), 'second get');
    });

    test('set overwrites, and sessions do not interfere', async ({ store }) => {
      const a = randomId('a');
      const b = randomId('b');
      await store.set(a, makeRecord(60_000, { n: 1 }), 60_000);
      await store.set(b, makeRecord(60_000, { n: 100 }), 60_000);
      const second = makeRecord(60_000, { n: 2 }, { v: 2 });
      await store.set(a, second, 60_000);
      assertJsonEqual(await store.get(a), asStored(second), 'overwritten record');
      assert(((await store.get(b)) as Record<string, unknown> | undefined)?.n === 100, 'another session changed');
    });

    test('destroy removes the record, twice is fine', async ({ store }) => {
      const id = randomId('destroy');
      const other = randomId('keep');
      await store.set(id, makeRecord(60_000, { n: 1 }), 60_000);
      await store.set(other, makeRecord(60_000, { n: 2 }), 60_000);
      await store.destroy(id);
      assert((await store.get(id)) === undefined, 'record still there after destroy');
      await store.destroy(id);
      assert((await store.get(other)) !== undefined, 'destroy removed another session');
    });

    test('a record expires after its TTL', async ({ store, wait }) => {
      const id = randomId('ttl');
      const long = randomId('ttl-long');
      await store.set(id, makeRecord(ttl, { n: 1 }), ttl);
      await store.set(long, makeRecord(60_000, { n: 2 }), 60_000);
      assert((await store.get(id)) !== undefined, 'record missing right after set');
      await wait(ttl + slack);
      assert((await store.get(id)) === undefined, `record still returned ${ttl + slack} ms after a ${ttl} ms TTL`);
      assert((await store.get(long)) !== undefined, 'a record with a long TTL expired early');
    });

    test('a non-positive TTL stores nothing and removes an existing record', async ({ store }) => {
      const id = randomId('zero');
      await store.set(id, makeRecord(0), 0);
      assert((await store.get(id)) === undefined, 'set with TTL 0 left a record');
      await store.set(id, makeRecord(60_000), 60_000);
      await store.set(id, makeRecord(-1000), -1000);
      assert((await store.get(id)) === undefined, 'set with a negative TTL left the old record');
    });

    test('onlyIfExists never creates a record', async ({ store, wait }) => {
      const id = randomId('xx');
      const result = await store.set(id, makeRecord(60_000, { n: 1 }), 60_000, { onlyIfExists: true });
      assert(result === false, `set onlyIfExists on a missing key must resolve false, got ${show(result)}`);
      assert((await store.get(id)) === undefined, 'set onlyIfExists created a record');
      await store.set(id, makeRecord(60_000, { n: 1 }), 60_000);
      const updated = makeRecord(60_000, { n: 2 }, { v: 2 });
      assert((await store.set(id, updated, 60_000, { onlyIfExists: true })) !== false, 'set onlyIfExists on an existing key must write');
      assertJsonEqual(await store.get(id), asStored(updated), 'record after onlyIfExists update');
      await store.destroy(id);
      assert((await store.set(id, makeRecord(60_000, { n: 3 }), 60_000, { onlyIfExists: true })) === false, 'onlyIfExists after destroy must resolve false');
      assert((await store.get(id)) === undefined, 'onlyIfExists resurrected a destroyed session');
      const expiring = randomId('xx-expired');
      await store.set(expiring, makeRecord(ttl), ttl);
      await wait(ttl + slack);
      await store.set(expiring, makeRecord(60_000, { n: 4 }), 60_000, { onlyIfExists: true });
      assert((await store.get(expiring)) === undefined, 'onlyIfExists resurrected an expired session');
    });

    test('concurrent sets leave one complete record', async ({ store }) => {
      const id = randomId('concurrent');
      const records = Array.from({ length: 25 }, (_, i) => makeRecord(60_000, { writer: i, payload: `${i}:`.repeat(200 + i) }, { v: i + 1 }));
      await Promise.all(records.map((r) => store.set(id, r, 60_000)));
      const got = await store.get(id);
      assert(got !== undefined, 'no record after concurrent sets');
      assert(records.some((r) => jsonEqual(got, asStored(r))), `after concurrent sets the record must equal one of the writes, got ${show(got)}`);
    });

    test('touch extends the lifetime', async ({ store, wait }) => {
      const id = randomId('touch');
      const first = Math.max(ttl, touchAfter + ttl);
      const start = Date.now();
      await store.set(id, makeRecord(first, { n: 1 }), first);
      await wait(touchAfter || Math.floor(first / 2));
      await store.touch!(id, makeRecord(first * 4, { n: 1 }), first * 4);
      const elapsed = Date.now() - start;
      await wait(Math.max(0, first + slack - elapsed));
      assert((await store.get(id)) !== undefined, 'touched record expired at its original TTL');
    }, hasTouch);

    test('touch keeps the stored data (and refreshes the cookie unless touchKeepsRecord)', async ({ store, wait }) => {
      const id = randomId('touch-data');
      const stored = makeRecord(60_000, { n: 1, keep: 'me' }, { c: 1000, a: 1000, v: 7 });
      await store.set(id, stored, 60_000);
      if (touchAfter) await wait(touchAfter);
      const touched = makeRecord(120_000, { n: 999 }, { c: 1000, a: Date.now(), v: 7 });
      await store.touch!(id, touched, 120_000);
      const got = (await store.get(id)) as SessionRecord | undefined;
      assert(got !== undefined, 'record missing after touch');
      assert(got.n === 1 && got.keep === 'me', `touch changed the stored data: ${show(got)}`);
      if (!store.capabilities.touchKeepsRecord) {
        assert(got.cookie.expires === touched.cookie.expires, 'a store without touchKeepsRecord must store the touched cookie (the engine checks its expiry)');
        assert(got._ws?.a === touched._ws?.a, 'a store without touchKeepsRecord must store the touched last-seen time _ws.a');
      }
    }, hasTouch);

    test('touch never creates a record', async ({ store, wait }) => {
      const missing = randomId('touch-missing');
      await store.touch!(missing, makeRecord(60_000), 60_000);
      assert((await store.get(missing)) === undefined, 'touch created a missing record');
      const destroyed = randomId('touch-destroyed');
      await store.set(destroyed, makeRecord(60_000), 60_000);
      await store.destroy(destroyed);
      if (touchAfter) await wait(touchAfter);
      await store.touch!(destroyed, makeRecord(60_000), 60_000);
      assert((await store.get(destroyed)) === undefined, 'touch resurrected a destroyed record');
      const expired = randomId('touch-expired');
      await store.set(expired, makeRecord(ttl), ttl);
      await wait(Math.max(ttl + slack, touchAfter));
      await store.touch!(expired, makeRecord(60_000), 60_000);
      assert((await store.get(expired)) === undefined, 'touch resurrected an expired record');
    }, hasTouch);

    test('ifVersion rejects a stale version and accepts the current one', async ({ store }) => {
      const id = randomId('cas');
      await store.set(id, makeRecord(60_000, { n: 1 }, { v: 1 }), 60_000);
      const stale = await store.set(id, makeRecord(60_000, { n: 'stale' }, { v: 6 }), 60_000, { ifVersion: 5 });
      assert(stale === false, `a write with a stale ifVersion must resolve false, got ${show(stale)}`);
      assert(((await store.get(id)) as Record<string, unknown> | undefined)?.n === 1, 'a stale write changed the record');
      const next = makeRecord(60_000, { n: 2 }, { v: 2 });
      assert((await store.set(id, next, 60_000, { ifVersion: 1 })) === true, 'a write with the current version must resolve true');
      assertJsonEqual(await store.get(id), asStored(next), 'record after a versioned write');
      assert((await store.set(id, makeRecord(60_000, { n: 3 }, { v: 2 }), 60_000, { ifVersion: 1 })) === false, 'the old version must now be stale');
      const viaXx = makeRecord(60_000, { n: 4 }, { v: 3 });
      assert((await store.set(id, viaXx, 60_000, { ifVersion: 2, onlyIfExists: true })) === true, 'ifVersion with onlyIfExists on the current version must write');
    }, cas);

    test('ifVersion 0 creates only when no record exists', async ({ store }) => {
      const id = randomId('cas-create');
      assert((await store.set(id, makeRecord(60_000, { n: 1 }, { v: 1 }), 60_000, { ifVersion: 0 })) === true, 'ifVersion 0 on a missing key must create');
      assert((await store.set(id, makeRecord(60_000, { n: 2 }, { v: 1 }), 60_000, { ifVersion: 0 })) === false, 'ifVersion 0 on an existing record must resolve false');
      assert(((await store.get(id)) as Record<string, unknown> | undefined)?.n === 1, 'the second create overwrote the first');
      const fresh = randomId('cas-create-xx');
      assert((await store.set(fresh, makeRecord(60_000, {}, { v: 1 }), 60_000, { ifVersion: 0, onlyIfExists: true })) === false, 'onlyIfExists wins over ifVersion 0');
      assert((await store.get(fresh)) === undefined, 'ifVersion 0 with onlyIfExists created a record');
    }, cas);

    test('concurrent versioned writes: exactly one wins', async ({ store }) => {
      const id = randomId('cas-race');
      await store.set(id, makeRecord(60_000, { n: 0 }, { v: 1 }), 60_000);
      const writes = Array.from({ length: 20 }, (_, i) => makeRecord(60_000, { n: i + 1 }, { v: 2 }));
      const results = await Promise.all(writes.map((r) => store.set(id, r, 60_000, { ifVersion: 1, onlyIfExists: true })));
      const winners = results.filter((r) => r === true).length;
      assert(winners === 1, `exactly one of 20 concurrent writes with the same ifVersion must win, got ${winners}`);
      const got = await store.get(id);
      assertJsonEqual(got, asStored(writes[results.indexOf(true)]), 'the stored record is the winner');
    }, cas);

    test('listByUser lists live sessions of one user key', async ({ store, wait }) => {
      const alice = randomId('alice');
      const bob = randomId('bob');
      const a1 = randomId('a1');
      const a2 = randomId('a2');
      const b1 = randomId('b1');
      const anon = randomId('anon');
      const short = randomId('a-short');
      await store.set(a1, makeRecord(60_000, { n: 1 }, { u: alice }), 60_000);
      await store.set(a2, makeRecord(60_000, { n: 2 }, { u: alice }), 60_000);
      await store.set(b1, makeRecord(60_000, { n: 3 }, { u: bob }), 60_000);
      await store.set(anon, makeRecord(60_000, { n: 4 }), 60_000);
      await store.set(short, makeRecord(ttl, { n: 5 }, { u: alice }), ttl);
      const ids = (list: ListedSession[]): string[] => list.map((s) => s.id).sort();
      await wait(ttl + slack);
      const listed = await store.listByUser!(alice);
      assertJsonEqual(ids(listed), [a1, a2].sort(), 'sessions of alice (expired one excluded)');
      for (const entry of listed) assert(entry.record && entry.record._ws?.u === alice && typeof entry.record.cookie === 'object', `listed record for ${entry.id} is not the stored record`);
      assertJsonEqual(ids(await store.listByUser!(bob)), [b1], 'sessions of bob');
      assertJsonEqual(await store.listByUser!(randomId('nobody')), [], 'sessions of an unknown user');
      await store.destroy(a1);
      await store.set(a2, makeRecord(60_000, { n: 2 }, { u: bob, v: 2 }), 60_000);
      assertJsonEqual(ids(await store.listByUser!(alice)), [], 'alice after one session was destroyed and the other moved to bob');
      assertJsonEqual(ids(await store.listByUser!(bob)), [a2, b1].sort(), 'bob after a session moved to him');
    }, listing);

    test('corrupted data is no session, reported, never thrown', async ({ store, harness, corruptions }) => {
      if (!harness.corrupt) return;
      const valid = JSON.stringify(asStored(makeRecord(60_000, { n: 1 })));
      const payloads = ['{bad', 'null', '42', '"a string"', '[]', 'true', '{"no":"cookie"}', '{"cookie":null}', '{"cookie":"x"}', valid.slice(0, valid.length >> 1), '\u0000\uFFFD garbage', '{"a":'.repeat(5000)];
      let tried = 0;
      for (const raw of payloads) {
        const id = randomId('corrupt');
        if ((await harness.corrupt(id, raw)) === false) continue;
        tried++;
        const before = corruptions.length;
        let got: unknown;
        try {
          got = await store.get(id);
        } catch (err) {
          fail(`get of corrupt data ${show(raw.slice(0, 40))} threw ${show(err instanceof Error ? err.message : err)}; it must resolve undefined`);
        }
        assert(got === undefined, `get of corrupt data ${show(raw.slice(0, 40))} must resolve undefined, got ${show(got)}`);
        if (reportsCorrupt) {
          assert(corruptions.length > before, `corrupt data ${show(raw.slice(0, 40))} was not reported through onCorrupt`);
          assert(corruptions[corruptions.length - 1]!.id === id, 'onCorrupt must receive the session id');
        }
        await store.destroy(id);
      }
      assert(tried > 0, 'the corrupt hook accepted no payload');
    });

    test('backend errors reject with SessionError ERR_STORE carrying the cause', async ({ harness }) => {
      if (!harness.failing) return;
      const broken = await harness.failing();
      try {
        const id = randomId('err');
        await assertStoreError(() => broken.get(id), 'get');
        await assertStoreError(() => broken.set(id, makeRecord(60_000), 60_000), 'set');
        await assertStoreError(() => broken.set(id, makeRecord(60_000), 60_000, { onlyIfExists: true }), 'set onlyIfExists');
        await assertStoreError(() => broken.destroy(id), 'destroy');
        if (broken.touch) await assertStoreError(() => broken.touch!(id, makeRecord(60_000), 60_000), 'touch');
        if (broken.capabilities.listing && broken.listByUser) await assertStoreError(() => broken.listByUser!('someone'), 'listByUser');
      } finally {
        await broken.close?.();
      }
    });
  });
}

/** `record` with some fields replaced, for expected values. */
function makeRecordLike(record: SessionRecord, replace: Record<string, unknown>): SessionRecord {
  const copy = asStored(record) as SessionRecord;
  for (const key of Object.keys(replace)) copy[key] = replace[key];
  return copy;
}

/**
 * The KV store inside workerd, on the real `SESSIONS` KV namespace that Miniflare provides
 * (vitest.workers.config.ts). Miniflare's KV expires keys on the real clock with KV's 60 s
 * floor, so expiry below a minute is tested through the timestamps embedded in the value.
 * Miniflare is one local store: KV's propagation delay cannot be reproduced here.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createKvStore } from '../../src/stores/kv.ts';
import type { KvNamespaceLike } from '../../src/stores/kv.ts';
import { runStoreContract } from '../../src/testing.ts';
import type { SessionRecord } from '../../src/store.ts';

const kv = (env as unknown as { SESSIONS: KvNamespaceLike & { list(o: { prefix: string }): Promise<{ keys: { name: string; expiration?: number }[] }> } }).SESSIONS;
const prefix = `kvtest-${Date.now().toString(36)}:`;

function record(ttlMs: number, data: Record<string, unknown> = {}): SessionRecord {
  const now = Date.now();
  return { cookie: { originalMaxAge: ttlMs, expires: new Date(now + ttlMs).toISOString(), path: '/' }, ...data, _ws: { c: now, a: now, v: 1 } };
}

/** The real namespace, with every call recorded. */
function recording(): KvNamespaceLike & { calls: { op: string; key: string; ttl?: number | undefined }[] } {
  const calls: { op: string; key: string; ttl?: number | undefined }[] = [];
  return {
    calls,
    get: (key, type) => (calls.push({ op: 'get', key }), kv.get(key, type)),
    put: (key, value, options) => (calls.push({ op: 'put', key, ttl: options?.expirationTtl }), kv.put(key, value, options)),
    delete: (key) => (calls.push({ op: 'delete', key }), kv.delete(key)),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('kv store (workerd)', () => {
  it('runs inside workerd', () => {
    expect(navigator.userAgent).toBe('Cloudflare-Workers');
  });

  runStoreContract(
    'kv (workerd, Miniflare KV)',
    ({ onCorrupt }) => ({
      store: createKvStore(kv, { prefix, onCorrupt }),
      corrupt: (id, raw) => kv.put(prefix + id, raw, { expirationTtl: 60 }),
      // KV itself refuses keys over 512 bytes: a prefix that long makes every call fail for real.
      failing: () => createKvStore(kv, { prefix: 'x'.repeat(600) }),
    }),
    { describe, it },
    // A touch must be a second after the last write to reach KV (one write per key per second).
    { touchAfterMs: 1100 },
  );

  it('never asks KV for an expirationTtl below 60 s, and enforces shorter TTLs itself', async () => {
    const ns = recording();
    const store = createKvStore(ns, { prefix });
    await store.set('short', record(300), 300);
    await store.set('long', record(90_500), 90_500);
    expect(ns.calls.filter((c) => c.op === 'put').map((c) => c.ttl)).toEqual([60, 91]);
    const listed = await kv.list({ prefix: `${prefix}short` });
    expect(listed.keys[0]!.expiration! * 1000).toBeGreaterThan(Date.now() + 55_000);
    await sleep(400);
    expect(await kv.get(`${prefix}short`, 'text')).not.toBeNull(); // still in KV ...
    expect(await store.get('short')).toBeUndefined(); // ... but expired for the store
    expect(await store.get('long')).toBeDefined();
  });

  it('throttles touch: at most one write per second per key, only when a quarter of the TTL has passed', async () => {
    const ns = recording();
    const store = createKvStore(ns, { prefix });
    const puts = () => ns.calls.filter((c) => c.op === 'put' && c.key === `${prefix}busy`).length;
    await store.set('busy', record(4000), 4000);
    expect(puts()).toBe(1);
    // A burst of touches right after the write: nothing reaches KV, not even a read.
    const before = ns.calls.length;
    for (let i = 0; i < 20; i++) await store.touch!('busy', record(4000), 4000);
    expect(ns.calls.length).toBe(before);
    // After 1.1 s, a quarter of the 4 s TTL has passed: one write, then throttled again.
    await sleep(1100);
    for (let i = 0; i < 5; i++) await store.touch!('busy', record(4000), 4000);
    expect(puts()).toBe(2);
    // A longer TTL moves the expiry far enough, but the one-second limit still holds.
    await store.touch!('busy', record(60_000), 60_000);
    expect(puts()).toBe(2);
    // The touched value kept the data and carries the new cookie.
    expect(await store.get('busy')).toMatchObject({ cookie: { originalMaxAge: 4000 } });
  });

  it('a fresh isolate (empty map) reads the last write time from the value instead of writing', async () => {
    const first = createKvStore(kv, { prefix });
    await first.set('shared', record(8000), 8000);
    const ns = recording();
    const other = createKvStore(ns, { prefix });
    await other.touch!('shared', record(8000), 8000);
    expect(ns.calls.map((c) => c.op)).toEqual(['get']);
    await other.touch!('shared', record(8000), 8000);
    expect(ns.calls.map((c) => c.op)).toEqual(['get']); // remembered now
    // With no memory at all (cacheSize 0), each touch reads but still does not write.
    const forgetful = recording();
    const none = createKvStore(forgetful, { prefix, cacheSize: 0 });
    await none.touch!('shared', record(8000), 8000);
    await none.touch!('shared', record(8000), 8000);
    expect(forgetful.calls.map((c) => c.op)).toEqual(['get', 'get']);
  });

  it('keeps the last-write map bounded', async () => {
    const ns = recording();
    const store = createKvStore(ns, { prefix, cacheSize: 2 });
    for (const id of ['m1', 'm2', 'm3']) await store.set(id, record(8000), 8000);
    ns.calls.length = 0;
    await store.touch!('m3', record(8000), 8000); // remembered: no call
    await store.touch!('m1', record(8000), 8000); // evicted: read from KV, still no write
    expect(ns.calls.map((c) => `${c.op} ${c.key.slice(prefix.length)}`)).toEqual(['get m1']);
  });

  it('rejects a binding it cannot use and bad options', () => {
    expect(() => createKvStore({} as KvNamespaceLike)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() => createKvStore(kv, { touchFraction: 1 })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() => createKvStore(kv, { cacheSize: -1 })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });
});

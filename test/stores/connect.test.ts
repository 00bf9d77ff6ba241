// fromConnectStore over real express-session stores: express-session's own MemoryStore, and
// connect-redis against the real redis-server (REDIS_URL; skipped without it). These are
// last-write-wins stores: the contract suite skips compare-and-set and listing by their
// capabilities, and the bridge honours onlyIfExists by reading first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session from 'express-session';
import { createClient } from 'redis';
import { RedisStore } from 'connect-redis';
import { fromConnectStore, isConnectStore } from '../../src/stores/connect.ts';
import type { ConnectStore } from '../../src/stores/connect.ts';
import { runStoreContract } from '../../src/testing.ts';
import type { SessionRecord } from '../../src/store.ts';

const url = process.env.REDIS_URL;
const prefix = `wstest-connect:${process.pid}:${Date.now().toString(36)}:`;

function record(ttlMs: number, data: Record<string, unknown> = {}): SessionRecord {
  const now = Date.now();
  return { cookie: { originalMaxAge: ttlMs, expires: new Date(now + ttlMs).toISOString(), path: '/' }, ...data, _ws: { c: now, a: now, v: 1 } };
}

type MemoryStore = session.MemoryStore & { sessions: Record<string, string> };

describe('connect bridge over express-session MemoryStore', () => {
  runStoreContract(
    'connect (express-session MemoryStore)',
    ({ onCorrupt }) => {
      const memory = new session.MemoryStore() as MemoryStore;
      return {
        store: fromConnectStore(memory as unknown as ConnectStore, { onCorrupt }),
        // MemoryStore itself throws a TypeError reading a stored "null" (sess.cookie of null): not testable as corrupt.
        corrupt: (id, raw) => {
          if (raw === 'null') return false;
          memory.sessions[id] = raw;
        },
      };
    },
    { describe, it },
  );

  it('recognises express-session stores, and not websession stores', async () => {
    expect(isConnectStore(new session.MemoryStore())).toBe(true);
    expect(isConnectStore(fromConnectStore(new session.MemoryStore() as unknown as ConnectStore))).toBe(false);
  });

  it('checkExists: false writes unconditionally, as express-session does', async () => {
    const store = fromConnectStore(new session.MemoryStore() as unknown as ConnectStore, { checkExists: false });
    expect(await store.set('gone', record(60_000), 60_000, { onlyIfExists: true })).toBe(true);
    expect(await store.get('gone')).toBeDefined();
  });

  it('a store that calls back with an error rejects with ERR_STORE; ENOENT from get is "not found"', async () => {
    const failing: ConnectStore = {
      get: (_sid, cb) => cb(Object.assign(new Error('disk gone'), { code: 'EIO' })),
      set: (_sid, _s, cb) => cb?.(new Error('disk gone')),
      destroy: () => {
        throw new Error('thrown synchronously');
      },
      touch: (_sid, _s, cb) => setTimeout(() => cb?.(new Error('late')), 1),
    };
    const store = fromConnectStore(failing);
    for (const run of [() => store.get('x'), () => store.set('x', record(1000), 1000), () => store.destroy('x'), () => store.touch!('x', record(1000), 1000)]) {
      await expect(run()).rejects.toMatchObject({ name: 'SessionError', code: 'ERR_STORE', cause: expect.any(Error) });
    }
    const missing = fromConnectStore({ ...failing, get: (_sid, cb) => cb(Object.assign(new Error('no file'), { code: 'ENOENT' })) });
    expect(await missing.get('x')).toBeUndefined();
  });
});

describe.skipIf(!url)('connect bridge over connect-redis (real Redis)', () => {
  let client: ReturnType<typeof createClient>;
  beforeAll(async () => {
    client = createClient({ url });
    client.on('error', () => {});
    await client.connect();
  });
  afterAll(async () => {
    if (!client) return;
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length > 0) await client.del(keys);
    await client.close();
  });

  runStoreContract(
    'connect (connect-redis)',
    ({ onCorrupt }) => ({
      store: fromConnectStore(new RedisStore({ client, prefix }) as unknown as ConnectStore, { onCorrupt }),
      // connect-redis reads a stored "null" as a missing session (JSON null): not testable as corrupt.
      corrupt: async (id, raw) => {
        if (raw === 'null') return false;
        await client.set(prefix + id, raw, { expiration: { type: 'PX', value: 60_000 } });
      },
      failing: async () => {
        const closed = createClient({ url });
        closed.on('error', () => {});
        await closed.connect();
        await closed.close();
        return fromConnectStore(new RedisStore({ client: closed, prefix }) as unknown as ConnectStore);
      },
    }),
    // connect-redis sets whole-second TTLs (EX, rounded up from cookie.expires).
    { describe, it },
    { ttlMs: 1000, slackMs: 400 },
  );

  it('keeps connect-redis TTLs derived from cookie.expires', async () => {
    const store = fromConnectStore(new RedisStore({ client, prefix }) as unknown as ConnectStore);
    await store.set('ttl', record(90_000), 90_000);
    const ttl = await client.ttl(`${prefix}ttl`);
    expect(ttl).toBeGreaterThan(85);
    expect(ttl).toBeLessThanOrEqual(90);
  });
});

/**
 * A bridge from callback-style express-session stores (connect-redis, connect-pg-simple,
 * connect-mongo, express-session's MemoryStore) to the promise-based store contract.
 * @module
 */
import type { SessionRecord, Store, StoreCapabilities } from '../store.ts';

type Callback<T = unknown> = (err?: unknown, value?: T) => void;

/** The shape of an express-session store, typed structurally so no package is needed. */
export interface ConnectStore {
  get(sid: string, callback: Callback<SessionRecord | null | undefined>): void;
  set(sid: string, session: SessionRecord, callback?: Callback): void;
  destroy(sid: string, callback?: Callback): void;
  touch?(sid: string, session: SessionRecord, callback?: Callback): void;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** A {@link Store} backed by an express-session store; `connect` is the original. */
export interface ConnectStoreBridge extends Store {
  /** The wrapped express-session store. */
  readonly connect: ConnectStore;
}

function call<T>(run: (cb: Callback<T>) => void): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    let settled = false;
    try {
      run((err, value) => {
        if (settled) return;
        settled = true;
        // express-session treats ENOENT from get as "not found".
        if (err && (err as { code?: unknown }).code !== 'ENOENT') reject(err);
        else resolve(err ? undefined : value);
      });
    } catch (err) {
      if (!settled) {
        settled = true;
        reject(err);
      }
    }
  });
}

/** Returns true for objects that look like an express-session store (callback API). */
export function isConnectStore(store: unknown): store is ConnectStore {
  return typeof store === 'object' && store !== null && !('capabilities' in store) && typeof (store as ConnectStore).get === 'function' && typeof (store as ConnectStore).set === 'function' && typeof (store as ConnectStore).destroy === 'function';
}

/**
 * Wraps an express-session store. Its records are express-session's, so both libraries can
 * share it. Such stores write unconditionally (last write wins) and their `touch` keeps the
 * record as written; the store's TTL governs sliding expiry.
 */
export function fromConnectStore(store: ConnectStore): ConnectStoreBridge {
  const capabilities: StoreCapabilities = { nativeTtl: true, consistency: 'strong', compareAndSet: false, listing: false, touchKeepsRecord: true };
  const touch = store.touch;
  return {
    connect: store,
    capabilities,
    async get(id) {
      const record = await call<SessionRecord | null | undefined>((cb) => store.get(id, cb));
      return record ?? undefined;
    },
    async set(id, record) {
      // Stores derive their TTL from record.cookie.expires (or their own default), as with express-session.
      await call((cb) => store.set(id, record, cb));
    },
    async destroy(id) {
      await call((cb) => store.destroy(id, cb));
    },
    ...(typeof touch === 'function'
      ? {
          async touch(id: string, record: SessionRecord): Promise<void> {
            await call((cb) => touch.call(store, id, record, cb));
          },
        }
      : {}),
  };
}

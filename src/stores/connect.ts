/**
 * A bridge from callback-style express-session stores (connect-redis, connect-pg-simple,
 * connect-mongo, express-session's MemoryStore) to the promise-based store contract.
 * @module
 */
import { storeError } from '../errors.ts';
import { isRecord, type SessionRecord, type SetConditions, type Store, type StoreCapabilities } from '../store.ts';

type Callback<T = unknown> = (err?: unknown, value?: T) => void;

/**
 * The shape of an express-session store, typed structurally so no package is needed. The
 * session argument is express-session's `SessionData` (a `Date` or ISO string `expires`, its
 * own `secure: 'auto'`...), typed `any` so stores declared against @types/express-session
 * (connect-redis, connect-pg-simple, MemoryStore) fit without a cast.
 */
export interface ConnectStore {
  get(sid: string, callback: (err: any, session?: any) => void): void;
  set(sid: string, session: any, callback?: (err?: any) => void): void;
  destroy(sid: string, callback?: (err?: any) => void): void;
  touch?(sid: string, session: any, callback?: (err?: any) => void): void;
  on?(event: string, listener: (...args: any[]) => void): unknown;
}

/** Options of {@link fromConnectStore}. */
export interface ConnectBridgeOptions {
  /**
   * Honour `onlyIfExists` (the engine's end-of-request saves) by reading before writing, so a
   * save racing a logout does not bring the session back. It costs one read per such save and
   * is not atomic (the window shrinks from the whole request to one round trip). `false`
   * writes unconditionally, exactly as express-session does. @default true
   */
  checkExists?: boolean | undefined;
  /** Called when the store returns something that is not a session record, or fails to parse it. */
  onCorrupt?: ((id: string, error: unknown) => void) | undefined;
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
 * share it. Such stores write unconditionally (last write wins; `ifVersion` is ignored) and
 * their `touch` keeps the record as written; the store's TTL governs sliding expiry.
 *
 * The store derives its TTL from `record.cookie.expires` (or its own default for a browser-
 * session cookie), as under express-session; a non-positive `ttlMs` destroys the record.
 * A `SyntaxError` from the store's `get` (its JSON.parse of a damaged value) and a value that
 * is not a record are corrupt data: no session, reported through `onCorrupt`. Other failures
 * reject with `SessionError` `ERR_STORE`.
 */
export function fromConnectStore(store: ConnectStore, options: ConnectBridgeOptions = {}): ConnectStoreBridge {
  const capabilities: StoreCapabilities = { nativeTtl: true, consistency: 'strong', compareAndSet: false, listing: false, touchKeepsRecord: true, ttlFollowsCookie: true };
  const touch = store.touch;
  const checkExists = options.checkExists ?? true;
  const onCorrupt = options.onCorrupt;
  const get = async (id: string): Promise<SessionRecord | undefined> => {
    let record: unknown;
    try {
      record = await call<SessionRecord | null | undefined>((cb) => store.get(id, cb));
    } catch (err) {
      if (err instanceof SyntaxError) {
        onCorrupt?.(id, err);
        return undefined;
      }
      throw storeError('get', err);
    }
    if (record === null || record === undefined) return undefined;
    if (!isRecord(record)) {
      onCorrupt?.(id, new TypeError('stored value is not a session record'));
      return undefined;
    }
    return record;
  };
  const bridge: ConnectStoreBridge = {
    connect: store,
    capabilities,
    get,
    async set(id: string, record: SessionRecord, ttlMs: number, conditions?: SetConditions): Promise<boolean> {
      if (typeof ttlMs === 'number' && ttlMs <= 0) {
        await bridge.destroy(id);
        return true;
      }
      if (checkExists && conditions?.onlyIfExists && (await get(id)) === undefined) return false;
      try {
        await call((cb) => store.set(id, record, cb));
      } catch (err) {
        throw storeError('set', err);
      }
      return true;
    },
    async destroy(id) {
      try {
        await call((cb) => store.destroy(id, cb));
      } catch (err) {
        throw storeError('destroy', err);
      }
    },
    ...(typeof touch === 'function'
      ? {
          async touch(id: string, record: SessionRecord): Promise<void> {
            try {
              await call((cb) => touch.call(store, id, record, cb));
            } catch (err) {
              throw storeError('touch', err);
            }
          },
        }
      : {}),
  };
  return bridge;
}

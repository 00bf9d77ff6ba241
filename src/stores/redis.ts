/**
 * The Redis store, for node-redis (v4+) and ioredis clients, in connect-redis's key layout:
 * the record as a JSON string under `<prefix><id>` (default prefix `sess:`), so an app
 * moving from express-session + connect-redis keeps its sessions, and both can share a
 * Redis during a migration.
 *
 * - Every key gets a TTL (`SET ... PX`); a non-positive TTL deletes the key.
 * - `touch` is `PEXPIRE` only: the stored record is not rewritten (`touchKeepsRecord`), so a
 *   touch cannot overwrite a concurrent save, and cannot create a key that is gone.
 * - `onlyIfExists` is `SET ... XX`; `ifVersion` runs a Lua script that compares the stored
 *   record's `_ws.v` and writes in one atomic step (compare-and-set).
 * - Per-user listing keeps a Redis set `<prefix>user:<userKey>` of session IDs, updated in
 *   the same script as the write; its TTL is kept at least as long as its longest session.
 *   Listing prunes IDs whose session is gone or belongs to another user now.
 *
 * Redis replication is asynchronous: on a failover a recent write or `DEL` (a logout) can be
 * lost. The store issues all keys of one write in one script, so Redis Cluster needs a hash
 * tag in the prefix (`{sess}:`) to keep a session and its user index in one slot.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * const client = createClient({ url: process.env.REDIS_URL });
 * await client.connect();
 * const store = createRedisStore(client); // or an ioredis `new Redis(url)`
 * ```
 * @module
 */
import { SessionError, storeError } from '../errors.ts';
import { isRecord, type ListedSession, type SessionRecord, type SetConditions, type Store, type StoreCapabilities } from '../store.ts';
import { ttlOf } from './record.ts';

/** A node-redis (v4+) client: raw commands through `sendCommand`. */
export interface NodeRedisClientLike {
  sendCommand(args: string[]): Promise<unknown>;
}

/** An ioredis client (or Cluster): raw commands through `call`. */
export interface IoRedisClientLike {
  call(command: string, ...args: string[]): Promise<unknown>;
}

/** Any other client: one function that sends a command (`['SET', key, value, 'PX', '1000']`) and resolves its reply. */
export interface RedisCommandAdapter {
  sendRedisCommand(args: string[]): Promise<unknown>;
}

/** What {@link createRedisStore} accepts; detected structurally. */
export type RedisClientLike = NodeRedisClientLike | IoRedisClientLike | RedisCommandAdapter;

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  /** Key prefix; connect-redis's default, so both libraries see the same sessions. @default 'sess:' */
  prefix?: string | undefined;
  /** Called when a stored value is not a session record; the read then finds no session. */
  onCorrupt?: ((id: string, error: unknown) => void) | undefined;
}

/** A Redis-backed {@link Store}. */
export interface RedisStore extends Store {
  /** The key prefix in use. */
  readonly prefix: string;
}

// Decodes a stored record inside Redis. cjson rejects lone surrogate escapes (which
// JSON.stringify writes), so on failure those escapes are neutralised and decoding retried:
// only `_ws.v` and `cookie` are read, never string contents.
const LUA_DECODE = `
local function decode(s)
  local ok, v = pcall(cjson.decode, s)
  if ok then return v end
  local cleaned = (string.gsub(s, '(\\\\+)u[dD][89a-fA-F]%x%x', function(bs)
    if #bs % 2 == 1 then return bs .. 'u0020' end
  end))
  ok, v = pcall(cjson.decode, cleaned)
  if ok then return v end
  return nil
end
`;

// KEYS[1] session key, KEYS[2] user index key (optional)
// ARGV[1] JSON, ARGV[2] TTL ms, ARGV[3] '1' = only if a record exists, ARGV[4] expected version or '', ARGV[5] session id
const WRITE_SCRIPT = `${LUA_DECODE}
if ARGV[3] == '1' or ARGV[4] ~= '' then
  local exists = false
  local version = 0
  local cur = redis.pcall('GET', KEYS[1])
  if type(cur) == 'string' then
    local rec = decode(cur)
    if rec == nil and ARGV[4] ~= '' then
      -- Beyond cjson (nested deeper than its 1000 levels) yet read by the engine: without this
      -- every save of such a session would fail its version check, retried up to 100 times.
      exists = true
      version = tonumber(ARGV[4])
    elseif type(rec) == 'table' and type(rec.cookie) == 'table' then
      exists = true
      if type(rec._ws) == 'table' and type(rec._ws.v) == 'number' then version = rec._ws.v end
    end
  end
  if ARGV[3] == '1' and not exists then return 0 end
  if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= version then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if KEYS[2] then
  redis.call('SADD', KEYS[2], ARGV[5])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
end
return 1
`;

// KEYS[1] session key, KEYS[2] user index key; ARGV[1] TTL ms
const TOUCH_SCRIPT = `
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 1 then
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
  return 1
end
return 0
`;

// KEYS[1] user index key, KEYS[2..n] session keys; ARGV[1..n-1] their IDs. Removes IDs whose key is gone.
const PRUNE_SCRIPT = `
for i, id in ipairs(ARGV) do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then redis.call('SREM', KEYS[1], id) end
end
return 1
`;

interface Script {
  source: string;
  sha: Promise<string> | undefined;
}

async function sha1(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text)));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

function runnerOf(client: RedisClientLike): (args: string[]) => Promise<unknown> {
  const c = client as Partial<RedisCommandAdapter & IoRedisClientLike & NodeRedisClientLike> | null;
  if (c && typeof c.sendRedisCommand === 'function') return (args) => c.sendRedisCommand!(args);
  // ioredis first: it also has a sendCommand, which takes its own Command objects.
  if (c && typeof c.call === 'function') return (args) => c.call!(args[0]!, ...args.slice(1));
  if (c && typeof c.sendCommand === 'function') return (args) => c.sendCommand!(args);
  throw new SessionError('ERR_CONFIG', 'websession: createRedisStore needs a node-redis client (sendCommand), an ioredis client (call) or { sendRedisCommand(args) }');
}


/** Creates a Redis store on a connected client; the client stays yours to close. */
export function createRedisStore(client: RedisClientLike, options: RedisStoreOptions = {}): RedisStore {
  const prefix = options.prefix ?? 'sess:';
  if (typeof prefix !== 'string' || /[*?[\]\\]/.test(prefix)) throw new SessionError('ERR_CONFIG', 'websession: option prefix must be a string without glob characters (* ? [ ] \\)');
  const onCorrupt = options.onCorrupt;
  const run = runnerOf(client);
  const write: Script = { source: WRITE_SCRIPT, sha: undefined };
  const touchScript: Script = { source: TOUCH_SCRIPT, sha: undefined };
  const prune: Script = { source: PRUNE_SCRIPT, sha: undefined };
  const key = (id: string): string => prefix + id;
  const userKey = (user: string): string => `${prefix}user:${user}`;

  const evalScript = async (script: Script, keys: string[], args: string[]): Promise<unknown> => {
    script.sha ??= sha1(script.source);
    const sha = await script.sha;
    try {
      return await run(['EVALSHA', sha, String(keys.length), ...keys, ...args]);
    } catch (err) {
      if (!/NOSCRIPT/.test(err instanceof Error ? err.message : String(err))) throw err;
      return run(['EVAL', script.source, String(keys.length), ...keys, ...args]);
    }
  };

  const decode = (id: string, raw: unknown): SessionRecord | undefined => {
    if (raw === null || raw === undefined) return undefined;
    try {
      const text = typeof raw === 'string' ? raw : String(raw);
      const value: unknown = JSON.parse(text);
      if (isRecord(value)) return value;
      throw new TypeError('stored value is not a session record');
    } catch (err) {
      onCorrupt?.(id, err);
      return undefined;
    }
  };

  const capabilities: StoreCapabilities = { nativeTtl: true, consistency: 'strong', compareAndSet: true, listing: true, touchKeepsRecord: true };

  return {
    capabilities,
    prefix,
    async get(id) {
      let raw: unknown;
      try {
        raw = await run(['GET', key(id)]);
      } catch (err) {
        // A key of another type (WRONGTYPE) is corrupt data, not an outage.
        if (/WRONGTYPE/.test(err instanceof Error ? err.message : '')) {
          onCorrupt?.(id, err);
          return undefined;
        }
        throw storeError('get', err);
      }
      return decode(id, raw);
    },
    async set(id, record, ttlMs, conditions?: SetConditions) {
      const ttl = ttlOf('set', ttlMs);
      try {
        if (ttl === 0) {
          await run(['DEL', key(id)]);
          return true;
        }
        const json = JSON.stringify(record);
        const user = record._ws?.u;
        const ifVersion = conditions?.ifVersion;
        const onlyIfExists = conditions?.onlyIfExists === true;
        if (ifVersion === undefined && typeof user !== 'string') {
          const reply = await run(onlyIfExists ? ['SET', key(id), json, 'PX', String(ttl), 'XX'] : ['SET', key(id), json, 'PX', String(ttl)]);
          return reply !== null && reply !== undefined;
        }
        const keys = typeof user === 'string' ? [key(id), userKey(user)] : [key(id)];
        const reply = await evalScript(write, keys, [json, String(ttl), onlyIfExists ? '1' : '0', ifVersion === undefined ? '' : String(ifVersion), id]);
        return Number(reply) === 1;
      } catch (err) {
        throw storeError('set', err);
      }
    },
    async touch(id, record, ttlMs) {
      const ttl = ttlOf('touch', ttlMs);
      try {
        if (ttl === 0) {
          await run(['DEL', key(id)]);
          return;
        }
        const user = record?._ws?.u;
        // PEXPIRE on a missing key is a no-op: a touch never creates a session.
        if (typeof user === 'string') await evalScript(touchScript, [key(id), userKey(user)], [String(ttl)]);
        else await run(['PEXPIRE', key(id), String(ttl)]);
      } catch (err) {
        throw storeError('touch', err);
      }
    },
    async destroy(id) {
      try {
        await run(['DEL', key(id)]);
      } catch (err) {
        throw storeError('destroy', err);
      }
    },
    async listByUser(user) {
      try {
        const index = userKey(user);
        const members = await run(['SMEMBERS', index]);
        const ids = Array.isArray(members) ? members.map(String) : [];
        const out: ListedSession[] = [];
        const gone: string[] = [];
        const other: string[] = [];
        for (let i = 0; i < ids.length; i += 200) {
          const chunk = ids.slice(i, i + 200);
          const values = await run(['MGET', ...chunk.map(key)]);
          chunk.forEach((id, j) => {
            const raw = Array.isArray(values) ? values[j] : undefined;
            if (raw === null || raw === undefined) return void gone.push(id);
            const record = decode(id, raw);
            if (record === undefined || record._ws?.u !== user) return void other.push(id);
            out.push({ id, record });
          });
        }
        for (let i = 0; i < gone.length; i += 200) {
          const chunk = gone.slice(i, i + 200);
          await evalScript(prune, [index, ...chunk.map(key)], chunk);
        }
        if (other.length > 0) await run(['SREM', index, ...other]);
        return out;
      } catch (err) {
        throw storeError('listByUser', err);
      }
    },
  };
}

/**
 * The file store: one JSON file per session in one directory, for a single server without
 * a database (Node, Deno, Bun).
 *
 * - File names are the SHA-256 of the session ID (hex), so no ID can name a path outside
 *   the directory (`../x`, `..\x`, NUL, absolute paths all become 64 hex digits), and the
 *   directory never reveals a usable session ID.
 * - Writes are atomic: a temp file in the same directory, `fsync`, then `rename` over the
 *   target. A crash leaves either the old file or the new one, never partial JSON; leftover
 *   temp files are removed by `sweep()`.
 * - Expiry is kept inside the file and checked on every read; `sweep()` deletes expired
 *   (and unreadable) files. Run it on a timer: the file system has no TTL.
 * - A file that is not a session record is no session (reported through `onCorrupt`).
 * - Writes are last-write-wins; `onlyIfExists` is checked before the write (not atomic).
 *
 * @module
 */
import { constants, lstat, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { SessionError, storeError } from '../errors.ts';
import { isRecord, type ListedSession, type SessionRecord, type SetConditions, type Store, type StoreCapabilities } from '../store.ts';
import { ttlOf } from './record.ts';

/** Options of {@link createFileStore}. */
export interface FileStoreOptions {
  /** The directory for session files; created (mode 0700) on the first write. */
  dir: string;
  /** File mode of session files. @default 0o600 */
  fileMode?: number | undefined;
  /** Longest accepted session ID, in UTF-16 code units; longer IDs are never stored. @default 1024 */
  maxIdLength?: number | undefined;
  /** Called when a session file is not a session record; the read then finds no session. */
  onCorrupt?: ((id: string, error: unknown) => void) | undefined;
}

/** A file-backed {@link Store}. */
export interface FileStore extends Store {
  /** The absolute directory. */
  readonly dir: string;
  /** The absolute path of the file that holds session `id` (whether or not it exists). */
  filePath(id: string): string;
  /** Deletes expired and unreadable session files, and stale temp files; resolves how many. */
  sweep(): Promise<number>;
}

interface Envelope {
  /** Expiry, epoch ms. */
  e: number;
  /** The record. */
  r: SessionRecord;
  /** The session ID (file names are hashes), for per-user listing. */
  i?: string;
}

const FILE = /^[0-9a-f]{64}\.json$/;
const TEMP = /^\.tmp-[0-9a-f]{16}$/;
const STALE_TEMP_MS = 60_000;

function code(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code;
}

/** Creates a file store in `dir`. */
export function createFileStore(options: FileStoreOptions): FileStore {
  if (typeof options?.dir !== 'string' || options.dir.length === 0) throw new SessionError('ERR_CONFIG', 'websession: option dir must be a non-empty path');
  const dir = resolve(options.dir);
  const fileMode = options.fileMode ?? 0o600;
  const maxIdLength = options.maxIdLength ?? 1024;
  const onCorrupt = options.onCorrupt;
  // O_NOFOLLOW: a symlink planted in the directory is never followed (absent on Windows).
  const readFlags = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

  const validId = (id: unknown): id is string => typeof id === 'string' && id.length > 0 && id.length <= maxIdLength;
  // JSON.stringify makes the ID well-formed (lone surrogates escaped), so distinct IDs hash differently.
  const filePath = (id: string): string => join(dir, `${createHash('sha256').update(JSON.stringify(id)).digest('hex')}.json`);

  const readEnvelope = async (path: string, id: string | undefined): Promise<{ envelope: Envelope | undefined; ino: number | bigint } | undefined> => {
    let handle: FileHandle;
    try {
      handle = await open(path, readFlags);
    } catch (err) {
      // ENOENT: no such session (or no write yet). ENOTDIR stays an error: `dir` is not a directory.
      if (code(err) === 'ENOENT') return undefined;
      if (code(err) === 'ELOOP') {
        if (id !== undefined) onCorrupt?.(id, err);
        return { envelope: undefined, ino: -1 };
      }
      throw err;
    }
    try {
      const [stat, text] = await Promise.all([handle.stat(), handle.readFile('utf8')]);
      try {
        const value = JSON.parse(text) as Envelope;
        if (typeof value !== 'object' || value === null || typeof value.e !== 'number' || !isRecord(value.r)) throw new TypeError('file is not a session record');
        return { envelope: value, ino: stat.ino };
      } catch (err) {
        if (id !== undefined) onCorrupt?.(id, err);
        return { envelope: undefined, ino: stat.ino };
      }
    } finally {
      await handle.close();
    }
  };

  const live = async (id: string, now: number): Promise<Envelope | undefined> => {
    const read = await readEnvelope(filePath(id), id);
    const envelope = read?.envelope;
    return envelope !== undefined && envelope.e > now ? envelope : undefined;
  };

  const writeAtomic = async (path: string, content: string): Promise<void> => {
    const temp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    let handle: FileHandle;
    try {
      handle = await open(temp, 'wx', fileMode);
    } catch (err) {
      if (code(err) !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true, mode: 0o700 });
      handle = await open(temp, 'wx', fileMode);
    }
    try {
      try {
        await handle.writeFile(content, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw err;
    }
  };

  const serialise = (id: string, record: SessionRecord, expires: number): string => `{"e":${expires},"i":${JSON.stringify(id)},"r":${JSON.stringify(record)}}`;

  // Listing scans the directory (one read per session file): fine for the small deployments a file store suits.
  const capabilities: StoreCapabilities = { nativeTtl: false, consistency: 'strong', compareAndSet: false, listing: true };

  const store: FileStore = {
    capabilities,
    dir,
    filePath(id) {
      if (!validId(id)) throw new SessionError('ERR_STORE', `store filePath failed: invalid session id`);
      return filePath(id);
    },
    async get(id) {
      if (!validId(id)) return undefined;
      try {
        return (await live(id, Date.now()))?.r;
      } catch (err) {
        throw storeError('get', err);
      }
    },
    async set(id, record, ttlMs, conditions?: SetConditions) {
      const ttl = ttlOf('set', ttlMs);
      if (!validId(id)) throw storeError('set', new RangeError(`session id must be a string of 1 to ${maxIdLength} characters`));
      try {
        if (ttl === 0) {
          await store.destroy(id);
          return true;
        }
        const now = Date.now();
        if (conditions?.onlyIfExists && (await live(id, now)) === undefined) return false;
        await writeAtomic(filePath(id), serialise(id, record, now + ttl));
        return true;
      } catch (err) {
        throw storeError('set', err);
      }
    },
    async touch(id, record, ttlMs) {
      const ttl = ttlOf('touch', ttlMs);
      if (!validId(id)) return;
      try {
        if (ttl === 0) {
          await store.destroy(id);
          return;
        }
        const now = Date.now();
        const envelope = await live(id, now);
        if (envelope === undefined) return; // never creates
        // Keep the stored data; take only the refreshed cookie and last-seen time.
        const stored = envelope.r;
        stored.cookie = record.cookie;
        if (stored._ws && record._ws) stored._ws.a = record._ws.a;
        await writeAtomic(filePath(id), serialise(id, stored, now + ttl));
      } catch (err) {
        throw storeError('touch', err);
      }
    },
    async destroy(id) {
      if (!validId(id)) return;
      try {
        await unlink(filePath(id));
      } catch (err) {
        if (code(err) === 'ENOENT') return;
        throw storeError('destroy', err);
      }
    },
    async listByUser(userKey) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if (code(err) === 'ENOENT') return [];
        throw storeError('listByUser', err);
      }
      const now = Date.now();
      const out: ListedSession[] = [];
      for (const name of names) {
        if (!FILE.test(name)) continue;
        try {
          const envelope = (await readEnvelope(join(dir, name), undefined))?.envelope;
          if (envelope === undefined || envelope.e <= now || typeof envelope.i !== 'string') continue;
          if (envelope.r._ws?.u === userKey && join(dir, name) === filePath(envelope.i)) out.push({ id: envelope.i, record: envelope.r });
        } catch (err) {
          if (code(err) !== 'ENOENT') throw storeError('listByUser', err);
        }
      }
      return out;
    },
    async sweep() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if (code(err) === 'ENOENT') return 0;
        throw storeError('sweep', err);
      }
      let removed = 0;
      const now = Date.now();
      for (const name of names) {
        const path = join(dir, name);
        try {
          if (TEMP.test(name)) {
            const stat = await lstat(path);
            if (now - stat.mtimeMs > STALE_TEMP_MS) {
              await unlink(path);
              removed++;
            }
            continue;
          }
          if (!FILE.test(name)) continue;
          const read = await readEnvelope(path, undefined);
          if (read === undefined || (read.envelope !== undefined && read.envelope.e > now)) continue;
          // Delete only the file that was read: a write that replaced it meanwhile has a new inode.
          const current = await lstat(path);
          if (read.ino !== -1 && current.ino !== read.ino) continue;
          await unlink(path);
          removed++;
        } catch (err) {
          if (code(err) === 'ENOENT') continue;
          throw storeError('sweep', err);
        }
      }
      return removed;
    },
  };
  return store;
}

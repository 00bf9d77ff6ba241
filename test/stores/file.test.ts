// The file store on the real file system, in fresh temp directories.
import { mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/stores/file.ts';
import { runStoreContract } from '../../src/testing.ts';
import type { SessionRecord } from '../../src/store.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'websession-file-store-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
const freshDir = (): string => join(root, `s${n++}`, 'sessions');

function record(ttlMs: number, data: Record<string, unknown> = {}): SessionRecord {
  const now = Date.now();
  return { cookie: { originalMaxAge: ttlMs, expires: new Date(now + ttlMs).toISOString(), path: '/' }, ...data, _ws: { c: now, a: now, v: 1 } };
}

runStoreContract(
  'file',
  ({ onCorrupt }) => {
    const store = createFileStore({ dir: freshDir(), onCorrupt });
    return {
      store,
      corrupt: async (id, raw) => {
        await writeFile(store.filePath(id), raw).catch(async () => {
          await store.set(id, record(60_000), 60_000); // creates the directory
          await writeFile(store.filePath(id), raw);
        });
      },
      failing: async () => {
        // A regular file where the directory should be: every call fails with ENOTDIR.
        const file = join(root, `not-a-dir-${n++}`);
        await writeFile(file, 'x');
        return createFileStore({ dir: join(file, 'sessions') });
      },
    };
  },
  { describe, it },
);

describe('file store', () => {
  it('keeps traversal IDs inside the directory under hashed names', async () => {
    const dir = freshDir();
    const store = createFileStore({ dir });
    const ids = ['../x', '..\\x', '../../etc/passwd', '/etc/passwd', 'C:\\Windows\\x', 'a\u0000b', '.', '..', 'x/../../y', '\uD800', '\uD801', 'x'.repeat(1024)];
    for (const [i, id] of ids.entries()) await store.set(id, record(60_000, { i }), 60_000);
    for (const [i, id] of ids.entries()) expect((await store.get(id))?.i, JSON.stringify(id.slice(0, 20))).toBe(i);
    const names = await readdir(dir);
    expect(names).toHaveLength(ids.length);
    for (const name of names) expect(name).toMatch(/^[0-9a-f]{64}\.json$/);
    // Nothing was written next to or above the directory.
    expect(await readdir(dirname(dir))).toEqual(['sessions']);
    for (const id of ids) expect(dirname(store.filePath(id))).toBe(dir);
  });

  it('rejects IDs that are empty or too long instead of storing them', async () => {
    const dir = freshDir();
    const store = createFileStore({ dir, maxIdLength: 1024 });
    for (const id of ['', 'x'.repeat(1025), 'y'.repeat(100_000)]) {
      await expect(store.set(id, record(60_000), 60_000)).rejects.toMatchObject({ name: 'SessionError', code: 'ERR_STORE' });
      expect(await store.get(id)).toBeUndefined();
      await store.destroy(id);
      await store.touch(id, record(60_000), 60_000);
    }
    await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => createFileStore({ dir: '' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });

  it('writes atomically: concurrent readers never see partial JSON', async () => {
    const seen: unknown[] = [];
    const store = createFileStore({ dir: freshDir(), onCorrupt: (_id, err) => seen.push(err) });
    await store.set('big', record(60_000, { blob: 'a'.repeat(500_000) }), 60_000);
    const writes = Array.from({ length: 20 }, (_, i) => store.set('big', record(60_000, { blob: String.fromCharCode(98 + i).repeat(500_000 + i) }), 60_000));
    const reads = Array.from({ length: 60 }, async () => {
      const got = await store.get('big');
      expect(got).toBeDefined();
      expect(typeof got!.blob).toBe('string');
      expect(new Set(got!.blob as string).size).toBe(1);
    });
    await Promise.all([...writes, ...reads]);
    expect(seen).toEqual([]);
    expect((await readdir(store.dir)).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });

  it('a crash mid-write leaves the old session intact; sweep removes the stale temp file', async () => {
    const store = createFileStore({ dir: freshDir() });
    await store.set('s', record(60_000, { v: 'old' }), 60_000);
    // What a crash between open and rename leaves behind: a partial temp file.
    const temp = join(store.dir, '.tmp-0123456789abcdef');
    await writeFile(temp, '{"e":99999999999999,"r":{"cookie":{"origi');
    expect((await store.get('s'))?.v).toBe('old');
    expect(await store.sweep()).toBe(0); // a fresh temp file may belong to a write in progress
    const old = new Date(Date.now() - 120_000);
    await utimes(temp, old, old);
    expect(await store.sweep()).toBe(1);
    expect(await readdir(store.dir)).toEqual([store.filePath('s').slice(store.dir.length + 1)]);
  });

  it('sweep deletes expired and unreadable files and keeps live ones', async () => {
    const store = createFileStore({ dir: freshDir() });
    await store.set('live', record(60_000), 60_000);
    await store.set('short1', record(50), 50);
    await store.set('short2', record(50), 50);
    await store.set('bad', record(60_000), 60_000);
    await writeFile(store.filePath('bad'), '{"e":1,');
    await writeFile(join(store.dir, 'unrelated.txt'), 'keep me');
    await new Promise((r) => setTimeout(r, 120));
    expect(await store.sweep()).toBe(3);
    expect((await readdir(store.dir)).sort()).toEqual([store.filePath('live').slice(store.dir.length + 1), 'unrelated.txt'].sort());
    expect(await store.get('live')).toBeDefined();
    expect(await createFileStore({ dir: join(root, 'never-created') }).sweep()).toBe(0);
  });

  it('does not follow a symlink planted in the directory', async () => {
    const seen: string[] = [];
    const store = createFileStore({ dir: freshDir(), onCorrupt: (id) => seen.push(id) });
    await store.set('real', record(60_000, { secret: 1 }), 60_000);
    const outside = join(root, `outside-${n++}.json`);
    await writeFile(outside, await readFile(store.filePath('real'), 'utf8'));
    await symlink(outside, store.filePath('planted'));
    expect(await store.get('planted')).toBeUndefined();
    expect(seen).toEqual(['planted']);
    await store.set('planted', record(60_000, { mine: true }), 60_000);
    expect(await readFile(outside, 'utf8')).toContain('"secret":1'); // the rename replaced the link, not its target
    expect((await store.get('planted'))?.mine).toBe(true);
  });

  it('creates the directory 0700 and files 0600', async () => {
    const store = createFileStore({ dir: freshDir() });
    await store.set('m', record(60_000), 60_000);
    expect((await stat(store.dir)).mode & 0o777).toBe(0o700);
    expect((await stat(store.filePath('m'))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(store.filePath('m'), 'utf8'))).toMatchObject({ e: expect.any(Number), r: { cookie: { path: '/' } } });
  });
});

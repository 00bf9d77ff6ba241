// Picks the demo's session store: Redis when REDIS_URL is set, otherwise an embedded,
// persistent store (SQLite through node:sqlite where the runtime has it, files otherwise).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createFileStore } from '../dist/src/stores/file.js';
import { createRedisStore } from '../dist/src/stores/redis.js';
import { createSqlStore, openSqlite, sqliteQuery } from '../dist/src/stores/sql.js';

/** Returns `{ store, label, close }` for the environment. */
export async function openStore(dataDir) {
  if (process.env.REDIS_URL) {
    const { createClient } = await import('redis');
    const client = createClient({ url: process.env.REDIS_URL });
    client.on('error', (err) => console.error('redis:', err.message));
    await client.connect();
    return { store: createRedisStore(client), label: `Redis at ${process.env.REDIS_URL}`, close: () => client.close() };
  }
  mkdirSync(dataDir, { recursive: true });
  try {
    const file = join(dataDir, 'sessions.sqlite');
    const db = await openSqlite(file);
    const store = createSqlStore({ dialect: 'sqlite', query: sqliteQuery(db) });
    await store.createTable();
    return { store, label: `SQLite (node:sqlite) at ${file}`, close: () => db.close() };
  } catch {
    const dir = join(dataDir, 'sessions');
    return { store: createFileStore({ dir }), label: `files in ${dir}`, close: () => {} };
  }
}

// The SQL store against real databases: PostgreSQL (DATABASE_URL), MariaDB/MySQL (MYSQL_URL)
// and SQLite through node:sqlite where the runtime has it (Node 22+, Deno, Bun; Node 20 skips).
// .ci/run starts PostgreSQL at 127.0.0.1:54390 and MariaDB at 127.0.0.1:33090.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import mysql2 from 'mysql2/promise';
import session from 'express-session';
import { createSqlStore, mysqlQuery, openSqlite, pgQuery, sqliteQuery } from '../../src/stores/sql.ts';
import type { SqlQuery, SqlStore } from '../../src/stores/sql.ts';
import { runStoreContract } from '../../src/testing.ts';
import type { SessionRecord } from '../../src/store.ts';

const require = createRequire(import.meta.url);
const connectPgSimple = require('connect-pg-simple') as (s: typeof session) => new (options: Record<string, unknown>) => session.Store;

const databaseUrl = process.env.DATABASE_URL;
const mysqlUrl = process.env.MYSQL_URL;
const sqliteAvailable = await openSqlite().then(
  (db) => (db.close(), true),
  () => false,
);
const suffix = `${process.pid}_${Date.now().toString(36)}`;

function record(ttlMs: number, data: Record<string, unknown> = {}, ws: Partial<NonNullable<SessionRecord['_ws']>> = {}): SessionRecord {
  const now = Date.now();
  return { cookie: { originalMaxAge: ttlMs, expires: new Date(now + ttlMs).toISOString(), path: '/', httpOnly: true }, ...data, _ws: { c: now, a: now, v: 1, ...ws } };
}

/** Checks shared by every database: sweep, createTable idempotence, config validation. */
function commonChecks(label: string, make: () => SqlStore, rawInsert: (id: string, json: string, expireMs: number) => Promise<void>, count: () => Promise<number>): void {
  it(`${label}: createTable is idempotent and sweep deletes only expired rows`, async () => {
    const store = make();
    await store.createTable();
    await store.createTable();
    const before = await count();
    const now = Date.now();
    await rawInsert(`sweep-old-1-${suffix}`, JSON.stringify(record(1)), now - 5000);
    await rawInsert(`sweep-old-2-${suffix}`, '{bad', now - 1);
    await store.set(`sweep-live-${suffix}`, record(60_000), 60_000);
    expect(await store.sweep()).toBeGreaterThanOrEqual(2);
    expect(await count()).toBe(before + 1);
    expect(await store.get(`sweep-live-${suffix}`)).toBeDefined();
    expect(await store.sweep()).toBe(0);
  });
}

describe('createSqlStore options', () => {
  const query: SqlQuery = async () => ({ rows: [], affected: 0 });
  it('validates dialect, query and table at construction', () => {
    expect(() => createSqlStore({ dialect: 'oracle' as 'mysql', query })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() => createSqlStore({ dialect: 'postgres', query: undefined as unknown as SqlQuery })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    for (const table of ['session; drop table x', 'a.b.c', '"x"', '', '1abc']) expect(() => createSqlStore({ dialect: 'postgres', query, table })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(createSqlStore({ dialect: 'postgres', query, table: 'auth.sessions' }).table).toBe('"auth"."sessions"');
    expect(createSqlStore({ dialect: 'mysql', query }).table).toBe('`session`');
  });
});

describe.skipIf(!databaseUrl)('sql store: PostgreSQL', () => {
  let pool: pg.Pool;
  const table = `ws_session_${suffix}`;
  const cpsTable = `ws_cps_${suffix}`;
  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
    await createSqlStore({ dialect: 'postgres', query: pgQuery(pool), table }).createTable();
  });
  afterAll(async () => {
    if (!pool) return;
    await pool.query(`DROP TABLE IF EXISTS "${table}"`);
    await pool.query(`DROP TABLE IF EXISTS "${cpsTable}"`);
    await pool.end();
  });

  runStoreContract(
    'sql (postgres)',
    ({ onCorrupt }) => ({
      store: createSqlStore({ dialect: 'postgres', query: pgQuery(pool), table, onCorrupt }),
      // The sess column is json: PostgreSQL itself refuses non-JSON text, so those payloads are skipped.
      corrupt: async (id, raw) =>
        pool
          .query(`INSERT INTO "${table}" (sid, sess, expire) VALUES ($1, $2::json, now() + interval '1 minute')`, [id, raw])
          .then(
            () => true,
            () => false,
          ),
      failing: async () => {
        const closed = new pg.Pool({ connectionString: databaseUrl });
        await closed.end();
        return createSqlStore({ dialect: 'postgres', query: pgQuery(closed), table });
      },
    }),
    { describe, it },
  );

  commonChecks(
    'postgres',
    () => createSqlStore({ dialect: 'postgres', query: pgQuery(pool), table }),
    async (id, json, expireMs) => {
      await pool.query(`INSERT INTO "${table}" (sid, sess, expire) VALUES ($1, $2::json, to_timestamp($3::double precision / 1000))`, [id, json === '{bad' ? '{"bad":1}' : json, expireMs]);
    },
    async () => Number((await pool.query(`SELECT count(*) AS n FROM "${table}" WHERE expire > now()`)).rows[0].n),
  );

  it('shares a table with connect-pg-simple: its rows read here, ours read there', async () => {
    const PGStore = connectPgSimple(session);
    // connect-pg-simple creates its own table.sql layout; createTable() then adds version and uid.
    const theirs = new PGStore({ pool, tableName: cpsTable, createTableIfMissing: true, pruneSessionInterval: false });
    const call = <T>(fn: (cb: (err: unknown, value?: T) => void) => void): Promise<T | undefined> => new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
    const legacy = { cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString(), httpOnly: true, path: '/' }, user: 'ann', note: 'é😀\uD800' };
    await call((cb) => theirs.set('legacy', legacy as never, cb));
    const columns = await pool.query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY column_name`, [cpsTable]);
    expect(columns.rows.map((r) => r.column_name)).toEqual(['expire', 'sess', 'sid']);

    const ours = createSqlStore({ dialect: 'postgres', query: pgQuery(pool), table: cpsTable });
    await ours.createTable();
    expect(await ours.get('legacy')).toEqual(legacy);
    // A row without a version column value counts as version 0.
    expect(await ours.set('legacy', record(60_000, { user: 'ann', n: 2 }, { v: 1 }), 60_000, { ifVersion: 0, onlyIfExists: true })).toBe(true);

    const mine = record(60_000, { user: 'bob', nested: { list: [1, 'two'] } }, { u: 'bob' });
    await ours.set('mine', mine, 60_000);
    expect(await call((cb) => theirs.get('mine', cb as never))).toEqual(JSON.parse(JSON.stringify(mine)));
    // Their touch keeps our columns; their destroy removes our row.
    await call((cb) => theirs.touch!('mine', { ...mine, cookie: { ...mine.cookie, expires: new Date(Date.now() + 120_000).toISOString() } } as never, cb));
    expect((await ours.listByUser('bob')).map((s) => s.id)).toEqual(['mine']);
    await call((cb) => theirs.destroy('mine', cb));
    expect(await ours.get('mine')).toBeUndefined();
    // The store also reads a row that connect-pg-simple wrote into a table we created.
    const theirsOnOurs = new PGStore({ pool, tableName: table, createTableIfMissing: false, pruneSessionInterval: false });
    await call((cb) => theirsOnOurs.set(`cps-${suffix}`, legacy as never, cb));
    expect(await createSqlStore({ dialect: 'postgres', query: pgQuery(pool), table }).get(`cps-${suffix}`)).toEqual(legacy);
    (theirs as unknown as { close(): void }).close();
    (theirsOnOurs as unknown as { close(): void }).close();
  });

  it('stores expire as timestamptz and records as json text exactly as JSON.stringify wrote them', async () => {
    const store = createSqlStore({ dialect: 'postgres', query: pgQuery(pool), table });
    const rec = record(60_000, { nul: 'a\u0000b', lone: '\uDC00' });
    await store.set(`raw-${suffix}`, rec, 60_000);
    const row = (await pool.query(`SELECT sess::text AS sess, pg_typeof(expire)::text AS type, expire > now() + interval '50 seconds' AS ok FROM "${table}" WHERE sid = $1`, [`raw-${suffix}`])).rows[0];
    expect(row).toEqual({ sess: JSON.stringify(rec), type: 'timestamp with time zone', ok: true });
  });
});

describe.skipIf(!mysqlUrl)('sql store: MariaDB/MySQL', () => {
  let pool: mysql2.Pool;
  const table = `ws_session_${suffix}`;
  beforeAll(async () => {
    pool = mysql2.createPool({ uri: mysqlUrl, connectionLimit: 8 });
    await createSqlStore({ dialect: 'mysql', query: mysqlQuery(pool), table }).createTable();
  });
  afterAll(async () => {
    if (!pool) return;
    await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
    await pool.end();
  });

  runStoreContract(
    'sql (mysql)',
    ({ onCorrupt }) => ({
      store: createSqlStore({ dialect: 'mysql', query: mysqlQuery(pool), table, onCorrupt }),
      corrupt: async (id, raw) => {
        await pool.query(`INSERT INTO \`${table}\` (sid, sess, expire) VALUES (?, ?, ?)`, [id, raw, Date.now() + 60_000]);
      },
      failing: async () => {
        const closed = mysql2.createPool({ uri: mysqlUrl });
        await closed.end();
        return createSqlStore({ dialect: 'mysql', query: mysqlQuery(closed), table });
      },
    }),
    { describe, it },
  );

  commonChecks(
    'mysql',
    () => createSqlStore({ dialect: 'mysql', query: mysqlQuery(pool), table }),
    async (id, json, expireMs) => {
      await pool.query(`INSERT INTO \`${table}\` (sid, sess, expire) VALUES (?, ?, ?)`, [id, json, expireMs]);
    },
    async () => Number(((await pool.query(`SELECT count(*) AS n FROM \`${table}\` WHERE expire > ?`, [Date.now()]))[0] as { n: number }[])[0]!.n),
  );

  it('compares IDs byte for byte (no case folding, no trailing-space padding) and accepts a callback pool', async () => {
    const store = createSqlStore({ dialect: 'mysql', query: mysqlQuery(pool), table });
    await store.set(`Case-${suffix}`, record(60_000, { n: 1 }), 60_000);
    expect(await store.get(`case-${suffix}`)).toBeUndefined();
    expect(await store.get(`Case-${suffix} `)).toBeUndefined();
    const callbackPool = (await import('mysql2')).createPool({ uri: mysqlUrl });
    try {
      const viaCallback = createSqlStore({ dialect: 'mysql', query: mysqlQuery(callbackPool), table });
      expect(await viaCallback.get(`Case-${suffix}`)).toMatchObject({ n: 1 });
    } finally {
      await callbackPool.promise().end();
    }
  });
});

describe.skipIf(!sqliteAvailable)('sql store: SQLite (node:sqlite)', () => {
  const table = 'session';
  let db: Awaited<ReturnType<typeof openSqlite>>;
  beforeAll(async () => {
    db = await openSqlite(':memory:');
    await createSqlStore({ dialect: 'sqlite', query: sqliteQuery(db), table }).createTable();
  });
  afterAll(() => db?.close());

  runStoreContract(
    'sql (sqlite)',
    ({ onCorrupt }) => ({
      store: createSqlStore({ dialect: 'sqlite', query: sqliteQuery(db), table, onCorrupt }),
      corrupt: (id, raw) => {
        db.prepare(`INSERT INTO "${table}" (sid, sess, expire) VALUES (?, ?, ?)`).run(...([id, raw, Date.now() + 60_000] as never[]));
      },
      failing: async () => {
        const closed = await openSqlite(':memory:');
        closed.close();
        return createSqlStore({ dialect: 'sqlite', query: sqliteQuery(closed), table });
      },
    }),
    { describe, it },
  );

  commonChecks(
    'sqlite',
    () => createSqlStore({ dialect: 'sqlite', query: sqliteQuery(db), table }),
    async (id, json, expireMs) => {
      db.prepare(`INSERT INTO "${table}" (sid, sess, expire) VALUES (?, ?, ?)`).run(...([id, json, expireMs] as never[]));
    },
    async () => Number((db.prepare(`SELECT count(*) AS n FROM "${table}" WHERE expire > ?`).all(...([Date.now()] as never[]))[0] as { n: number }).n),
  );
});

describe.skipIf(sqliteAvailable)('sql store: SQLite unavailable', () => {
  it('openSqlite reports ERR_CONFIG where node:sqlite is missing (Node 20)', async () => {
    await expect(openSqlite()).rejects.toMatchObject({ code: 'ERR_CONFIG' });
  });
});

/**
 * The SQL store: one store for PostgreSQL, MySQL/MariaDB and SQLite, with a small dialect
 * object per database and a driver-agnostic `query(sql, params)` function.
 *
 * The table keeps connect-pg-simple's layout, `session(sid PRIMARY KEY, sess json, expire)`
 * with an index on `expire`, plus two columns: `version` (compare-and-set) and `uid` (the
 * user key, indexed, for per-user listing). On PostgreSQL connect-pg-simple and this store
 * can share the table: `createTable()` adds the two columns to an existing connect-pg-simple
 * table, and each reads the other's rows. `expire` is a `timestamptz` on PostgreSQL and
 * epoch milliseconds (`BIGINT`/`INTEGER`) on MySQL and SQLite, where DATETIME would shift
 * with the connection's time zone.
 *
 * - Reads never return a row past `expire`; `sweep()` deletes expired rows (run it on a
 *   timer or a cron: SQL has no native TTL).
 * - `touch` updates only `expire` (`touchKeepsRecord`), as connect-pg-simple does, and
 *   never revives an expired or deleted row.
 * - `onlyIfExists` and `ifVersion` are single `UPDATE ... WHERE sid = ? AND version = ?`
 *   statements (`ifVersion: 0` inserts only when no live row exists): atomic per row.
 * - Records are stored as `JSON.stringify` text, so lone surrogates and NUL stay escaped
 *   (PostgreSQL's `json` type keeps the text as is; `jsonb` would reject `\u0000`).
 * - MySQL: the `mysql2` default `FOUND_ROWS` flag must stay on (affected rows = matched rows).
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * const store = createSqlStore({ dialect: 'postgres', query: pgQuery(new pg.Pool()) });
 * await store.createTable();
 * setInterval(() => void store.sweep(), 15 * 60_000).unref();
 * ```
 * @module
 */
import { SessionError, storeError } from '../errors.ts';
import { isRecord, type ListedSession, type SessionRecord, type SetConditions, type Store, type StoreCapabilities } from '../store.ts';
import { ttlOf } from './record.ts';

/** A query's outcome: rows for a SELECT, the affected-row count for a write. */
export interface SqlResult {
  rows: Record<string, unknown>[];
  affected: number;
}

/** Runs one parameterised statement. Build one with {@link pgQuery}, {@link mysqlQuery} or {@link sqliteQuery}. */
export type SqlQuery = (sql: string, params: unknown[]) => Promise<SqlResult>;

/** How one database spells the store's statements. */
export interface SqlDialect {
  /** `postgres`, `mysql` or `sqlite` (or your own). */
  readonly name: string;
  /** Quotes a validated identifier. */
  quote(identifier: string): string;
  /** The placeholder for the `index`-th parameter (1-based), in order of appearance. */
  param(index: number): string;
  /** Turns a placeholder holding epoch milliseconds into a value of the `expire` column. */
  time(placeholder: string): string;
  /** The expression that selects `sess` as JSON text. */
  readonly sessText: string;
  /** The clause that turns an INSERT into an upsert on `sid`, updating `columns`. */
  upsert(columns: readonly string[]): string;
  /** Whether `upsert()` may be followed by `WHERE <condition>` (PostgreSQL, SQLite). */
  readonly upsertWhere: boolean;
  /** Whether an error is a primary-key violation (for dialects without `upsertWhere`). */
  isDuplicateKey(error: unknown): boolean;
  /** The statements that create the table and its indexes (idempotent). */
  createTable(table: string, indexPrefix: string): string[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

function quoteWith(q: string): (identifier: string) => string {
  return (identifier) =>
    identifier
      .split('.')
      .map((part) => q + part + q)
      .join('.');
}

/** PostgreSQL (`pg`, `postgres.js` through a query function). Compatible with connect-pg-simple's table. */
export const postgres: SqlDialect = {
  name: 'postgres',
  quote: quoteWith('"'),
  param: (i) => `$${i}`,
  time: (p) => `to_timestamp(${p}::double precision / 1000)`,
  sessText: 'sess::text',
  upsert: (columns) => `ON CONFLICT (sid) DO UPDATE SET ${columns.map((c) => `${c} = excluded.${c}`).join(', ')}`,
  upsertWhere: true,
  isDuplicateKey: (error) => (error as { code?: unknown } | null)?.code === '23505',
  createTable: (table, prefix) => [
    `CREATE TABLE IF NOT EXISTS ${table} (sid varchar NOT NULL COLLATE "default" PRIMARY KEY, sess json NOT NULL, expire timestamp(6) with time zone NOT NULL, version bigint NOT NULL DEFAULT 0, uid varchar)`,
    // Upgrades a table created by connect-pg-simple's table.sql.
    `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS uid varchar`,
    `CREATE INDEX IF NOT EXISTS "IDX_${prefix}_expire" ON ${table} (expire)`,
    `CREATE INDEX IF NOT EXISTS "IDX_${prefix}_uid" ON ${table} (uid)`,
  ],
};

/** MySQL 5.7+/8 and MariaDB 10.5+ (`mysql2`). IDs and user keys compare byte for byte (VARBINARY). */
export const mysql: SqlDialect = {
  name: 'mysql',
  quote: quoteWith('`'),
  param: () => '?',
  time: (p) => p,
  sessText: 'sess',
  upsert: (columns) => `ON DUPLICATE KEY UPDATE ${columns.map((c) => `${c} = VALUES(${c})`).join(', ')}`,
  upsertWhere: false,
  isDuplicateKey: (error) => {
    const e = error as { code?: unknown; errno?: unknown } | null;
    return e?.code === 'ER_DUP_ENTRY' || e?.errno === 1062;
  },
  createTable: (table, prefix) => [
    `CREATE TABLE IF NOT EXISTS ${table} (sid VARBINARY(255) NOT NULL PRIMARY KEY, sess LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, expire BIGINT NOT NULL, version BIGINT NOT NULL DEFAULT 0, uid VARBINARY(255) NULL, INDEX \`IDX_${prefix}_expire\` (expire), INDEX \`IDX_${prefix}_uid\` (uid)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  ],
};

/** SQLite 3.24+ (`node:sqlite`, `bun:sqlite`, better-sqlite3). */
export const sqlite: SqlDialect = {
  name: 'sqlite',
  quote: quoteWith('"'),
  param: () => '?',
  time: (p) => p,
  sessText: 'sess',
  upsert: postgres.upsert,
  upsertWhere: true,
  isDuplicateKey: (error) => /UNIQUE constraint failed/.test(error instanceof Error ? error.message : ''),
  createTable: (table, prefix) => [
    `CREATE TABLE IF NOT EXISTS ${table} (sid TEXT NOT NULL PRIMARY KEY, sess TEXT NOT NULL, expire INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0, uid TEXT)`,
    `CREATE INDEX IF NOT EXISTS "IDX_${prefix}_expire" ON ${table} (expire)`,
    `CREATE INDEX IF NOT EXISTS "IDX_${prefix}_uid" ON ${table} (uid)`,
  ],
};

/** The built-in dialects by name. */
export const dialects: { readonly postgres: SqlDialect; readonly mysql: SqlDialect; readonly sqlite: SqlDialect } = { postgres, mysql, sqlite };

// ---------------------------------------------------------------------------------------------
// Driver adapters, typed structurally.

/** A `pg` Pool, Client or PoolClient. */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

/** Adapts a `pg` Pool (or Client) to {@link SqlQuery}. */
export function pgQuery(pool: PgQueryable): SqlQuery {
  return async (sql, params) => {
    const result = await pool.query(sql, params);
    return { rows: result.rows as Record<string, unknown>[], affected: result.rowCount ?? 0 };
  };
}

/** A `mysql2/promise` Pool or Connection, or a callback one that has `.promise()`. */
export type MysqlQueryable = { query(sql: string, values?: unknown): Promise<unknown> } | { promise(): { query(sql: string, values?: unknown): Promise<unknown> } };

/** Adapts a `mysql2` pool (promise API, or callback API through `.promise()`) to {@link SqlQuery}. */
export function mysqlQuery(pool: MysqlQueryable): SqlQuery {
  const target = 'promise' in pool && typeof pool.promise === 'function' ? pool.promise() : (pool as { query(sql: string, values?: unknown): Promise<unknown> });
  return async (sql, params) => {
    const reply = await target.query(sql, params);
    const result = Array.isArray(reply) ? reply[0] : reply;
    if (Array.isArray(result)) return { rows: result as Record<string, unknown>[], affected: 0 };
    return { rows: [], affected: Number((result as { affectedRows?: unknown } | null)?.affectedRows ?? 0) };
  };
}

/** A synchronous SQLite handle: `node:sqlite`'s DatabaseSync, `bun:sqlite`'s Database or better-sqlite3. */
export interface SqliteDatabaseLike {
  prepare(sql: string): {
    all(...params: never[]): unknown[];
    run(...params: never[]): { changes: number | bigint };
  };
}

/** Adapts a synchronous SQLite database to {@link SqlQuery}; prepared statements are cached. */
export function sqliteQuery(db: SqliteDatabaseLike): SqlQuery {
  const statements = new Map<string, ReturnType<SqliteDatabaseLike['prepare']>>();
  return async (sql, params) => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      if (statements.size >= 64) statements.delete(statements.keys().next().value as string);
      statements.set(sql, statement);
    }
    const values = params.map((p) => (p === undefined ? null : p)) as never[];
    if (/^\s*(select|with)\b/i.test(sql)) return { rows: statement.all(...values) as Record<string, unknown>[], affected: 0 };
    return { rows: [], affected: Number(statement.run(...values).changes) };
  };
}

/**
 * Opens a SQLite database with `node:sqlite` (Node 22.5+, Deno, Bun). The module is loaded
 * only here, when called, so importing this file never needs it.
 */
export async function openSqlite(path: string = ':memory:'): Promise<SqliteDatabaseLike & { exec(sql: string): void; close(): void }> {
  const specifier = 'node:sqlite';
  let mod: { DatabaseSync: new (path: string) => SqliteDatabaseLike & { exec(sql: string): void; close(): void } };
  try {
    mod = await import(specifier);
  } catch (err) {
    throw new SessionError('ERR_CONFIG', 'websession: node:sqlite is not available in this runtime (Node 22.5+, Deno and Bun have it)', { cause: err });
  }
  return new mod.DatabaseSync(path);
}

// ---------------------------------------------------------------------------------------------

/** Options of {@link createSqlStore}. */
export interface SqlStoreOptions {
  /** The database's dialect: a name or a dialect object. */
  dialect: SqlDialect | 'postgres' | 'mysql' | 'sqlite';
  /** Runs a statement; see {@link pgQuery}, {@link mysqlQuery}, {@link sqliteQuery}. */
  query: SqlQuery;
  /** Table name, optionally schema-qualified (`auth.session`). @default 'session' */
  table?: string | undefined;
  /** Called when a stored value is not a session record; the read then finds no session. */
  onCorrupt?: ((id: string, error: unknown) => void) | undefined;
}

/** A SQL-backed {@link Store}. */
export interface SqlStore extends Store {
  /** The quoted table name. */
  readonly table: string;
  /** Creates the table and indexes if missing (and upgrades a connect-pg-simple table). */
  createTable(): Promise<void>;
  /** Deletes expired rows; resolves how many. */
  sweep(): Promise<number>;
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return String(value);
}

/** Creates a SQL store. Call `createTable()` once (or create the table with its statements yourself). */
export function createSqlStore(options: SqlStoreOptions): SqlStore {
  const dialect = typeof options.dialect === 'string' ? dialects[options.dialect] : options.dialect;
  if (!dialect || typeof dialect.param !== 'function') throw new SessionError('ERR_CONFIG', "websession: option dialect must be 'postgres', 'mysql', 'sqlite' or a dialect object");
  if (typeof options.query !== 'function') throw new SessionError('ERR_CONFIG', 'websession: option query must be a function (sql, params) => Promise<{ rows, affected }>; see pgQuery, mysqlQuery, sqliteQuery');
  const name = options.table ?? 'session';
  const parts = name.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) throw new SessionError('ERR_CONFIG', `websession: option table must be an identifier or schema.identifier, got ${JSON.stringify(name)}`);
  const table = dialect.quote(name);
  const indexPrefix = parts[parts.length - 1]!;
  const query = options.query;
  const onCorrupt = options.onCorrupt;

  /** Builds a statement with placeholders numbered in order of appearance. */
  const statement = (): { params: unknown[]; p(value: unknown): string; t(ms: number): string } => {
    const params: unknown[] = [];
    return {
      params,
      p(value) {
        params.push(value === undefined ? null : value);
        return dialect.param(params.length);
      },
      t(ms) {
        params.push(ms);
        return dialect.time(dialect.param(params.length));
      },
    };
  };

  const decode = (id: string, raw: unknown): SessionRecord | undefined => {
    try {
      const value: unknown = typeof raw === 'object' && raw !== null && !(raw instanceof Uint8Array) ? raw : JSON.parse(text(raw));
      if (isRecord(value)) return value;
      throw new TypeError('stored value is not a session record');
    } catch (err) {
      onCorrupt?.(id, err);
      return undefined;
    }
  };

  const columns = ['sess', 'expire', 'version', 'uid'] as const;

  const capabilities: StoreCapabilities = { nativeTtl: false, consistency: 'strong', compareAndSet: true, listing: true, touchKeepsRecord: true };

  const store: SqlStore = {
    capabilities,
    table,
    async createTable() {
      try {
        for (const sql of dialect.createTable(table, indexPrefix)) await query(sql, []);
      } catch (err) {
        throw storeError('createTable', err);
      }
    },
    async get(id) {
      const s = statement();
      const sql = `SELECT ${dialect.sessText} AS sess FROM ${table} WHERE sid = ${s.p(id)} AND expire > ${s.t(Date.now())}`;
      let result: SqlResult;
      try {
        result = await query(sql, s.params);
      } catch (err) {
        throw storeError('get', err);
      }
      const row = result.rows[0];
      return row === undefined ? undefined : decode(id, row.sess);
    },
    async set(id, record, ttlMs, conditions?: SetConditions) {
      const ttl = ttlOf('set', ttlMs);
      try {
        if (ttl === 0) {
          await store.destroy(id);
          return true;
        }
        const now = Date.now();
        const json = JSON.stringify(record);
        const meta = record._ws;
        const version = typeof meta?.v === 'number' && Number.isSafeInteger(meta.v) ? meta.v : 0;
        const user = typeof meta?.u === 'string' ? meta.u : null;
        const ifVersion = conditions?.ifVersion;
        const onlyIfExists = conditions?.onlyIfExists === true;

        const insert = (where: boolean): { sql: string; params: unknown[] } => {
          const s = statement();
          let sql = `INSERT INTO ${table} (sid, sess, expire, version, uid) VALUES (${s.p(id)}, ${s.p(json)}, ${s.t(now + ttl)}, ${s.p(version)}, ${s.p(user)}) ${dialect.upsert(columns)}`;
          if (where) sql += ` WHERE ${table}.expire <= ${s.t(now)}`;
          return { sql, params: s.params };
        };

        if (ifVersion === undefined && !onlyIfExists) {
          const { sql, params } = insert(false);
          await query(sql, params);
          return true;
        }
        const s = statement();
        let sql = `UPDATE ${table} SET sess = ${s.p(json)}, expire = ${s.t(now + ttl)}, version = ${s.p(version)}, uid = ${s.p(user)} WHERE sid = ${s.p(id)} AND expire > ${s.t(now)}`;
        if (ifVersion !== undefined) sql += ` AND version = ${s.p(ifVersion)}`;
        if ((await query(sql, s.params)).affected > 0) return true;
        if (ifVersion !== 0 || onlyIfExists) return false;
        // ifVersion 0: create, but only where no live row exists.
        if (dialect.upsertWhere) {
          const { sql: upsert, params } = insert(true);
          return (await query(upsert, params)).affected > 0;
        }
        const d = statement();
        await query(`DELETE FROM ${table} WHERE sid = ${d.p(id)} AND expire <= ${d.t(now)}`, d.params);
        const i = statement();
        try {
          await query(`INSERT INTO ${table} (sid, sess, expire, version, uid) VALUES (${i.p(id)}, ${i.p(json)}, ${i.t(now + ttl)}, ${i.p(version)}, ${i.p(user)})`, i.params);
          return true;
        } catch (err) {
          if (dialect.isDuplicateKey(err)) return false;
          throw err;
        }
      } catch (err) {
        throw storeError('set', err);
      }
    },
    async touch(id, _record, ttlMs) {
      const ttl = ttlOf('touch', ttlMs);
      try {
        if (ttl === 0) {
          await store.destroy(id);
          return;
        }
        const now = Date.now();
        const s = statement();
        await query(`UPDATE ${table} SET expire = ${s.t(now + ttl)} WHERE sid = ${s.p(id)} AND expire > ${s.t(now)}`, s.params);
      } catch (err) {
        throw storeError('touch', err);
      }
    },
    async destroy(id) {
      try {
        const s = statement();
        await query(`DELETE FROM ${table} WHERE sid = ${s.p(id)}`, s.params);
      } catch (err) {
        throw storeError('destroy', err);
      }
    },
    async listByUser(user) {
      let result: SqlResult;
      try {
        const s = statement();
        result = await query(`SELECT sid, ${dialect.sessText} AS sess FROM ${table} WHERE uid = ${s.p(user)} AND expire > ${s.t(Date.now())}`, s.params);
      } catch (err) {
        throw storeError('listByUser', err);
      }
      const out: ListedSession[] = [];
      for (const row of result.rows) {
        const id = text(row.sid);
        const record = decode(id, row.sess);
        if (record !== undefined) out.push({ id, record });
      }
      return out;
    },
    async sweep() {
      try {
        const s = statement();
        return (await query(`DELETE FROM ${table} WHERE expire <= ${s.t(Date.now())}`, s.params)).affected;
      } catch (err) {
        throw storeError('sweep', err);
      }
    },
  };
  return store;
}

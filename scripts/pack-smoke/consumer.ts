// Type-checked (never run) by scripts/pack-smoke.mjs in a fresh project that installed the
// packed tarball: tsc with module/moduleResolution NodeNext, strict, skipLibCheck false, so
// the published .d.ts files themselves are checked too. Every entry point is imported and
// used; each `@ts-expect-error` proves the types are real (an `any` would make it unused,
// which tsc reports as an error).
import { createServer } from 'node:http';
import express from 'express';
import { MemoryStore as ExpressMemoryStore } from 'express-session';
import { Hono } from 'hono';
import pg from 'pg';
import { createClient } from 'redis';
import { createMemoryStore, createSessionEngine, SessionError, type Session, type SessionEngine, type Store } from 'websession';
import session, { getSession, type SessionRequest } from 'websession/express';
import { session as honoSession, type SessionVariables } from 'websession/hono';
import { withSession as withNodeSession } from 'websession/node';
import { withSession as withFetchSession } from 'websession/fetch';
import { createMemoryStore as createMemoryStore2, type MemoryStore } from 'websession/stores/memory';
import { createKvStore, type KvNamespaceLike } from 'websession/stores/kv';
import { createRedisStore, type RedisStore } from 'websession/stores/redis';
import { createSqlStore, pgQuery, sqliteQuery, type SqlStore } from 'websession/stores/sql';
import { createFileStore, type FileStore } from 'websession/stores/file';
import { fromUnstorage } from 'websession/stores/unstorage';
import { fromConnectStore, type ConnectStore } from 'websession/stores/connect';
import { runStoreContract, type ContractRunner } from 'websession/testing';

type Data = { views: number; user: string };

// core
const engine: SessionEngine<Data> = createSessionEngine<Data>({ secret: 'a-secret-of-at-least-32-characters!!', store: createMemoryStore() });
// @ts-expect-error: the secret is required
createSessionEngine({ store: createMemoryStore() });
export async function core(request: Request): Promise<Response> {
  const s: Session<Data> = engine.load(request);
  const views: number | undefined = await s.get('views');
  await s.set('views', (views ?? 0) + 1);
  // @ts-expect-error: views is a number
  await s.set('views', 'many');
  return engine.commit(s, new Response('ok'));
}
export const isConfigError = (e: unknown): boolean => e instanceof SessionError && e.code === 'ERR_CONFIG';

// express
const app = express();
app.use(session({ secret: 's', resave: false, saveUninitialized: false, cookie: { maxAge: 60_000, sameSite: 'lax' } }));
app.get('/', (req, res) => {
  const r = req as unknown as SessionRequest;
  r.session!.views = Number(r.session!.views ?? 0) + 1;
  void getSession(req)?.flash('message', 'hi');
  res.send('ok');
});
// @ts-expect-error: unset is 'keep' | 'destroy'
session({ secret: 's', unset: 'forget' });

// hono
const hono = new Hono<{ Variables: SessionVariables<Data> }>();
hono.use(honoSession<Data>({ secret: 's' }));
hono.get('/', async (c) => {
  const user: string | undefined = await c.get('session').get('user');
  return c.text(user ?? 'anonymous');
});

// node
createServer(
  withNodeSession<Data>(
    async (_req, res, s) => {
      res.end(String(await s.get('views')));
    },
    { secret: 's' },
  ),
);

// fetch (Workers-style env)
interface Env {
  SECRET: string;
  SESSIONS: KvNamespaceLike;
}
export default {
  fetch: withFetchSession<Data, Env>(
    async (_request, s) => new Response(String(await s.get('views'))),
    (env) => ({ secret: env.SECRET, store: createKvStore(env.SESSIONS) }),
  ),
};

// stores
const memory: MemoryStore = createMemoryStore2({ maxEntries: 10 });
// The real driver clients fit the structural types without a cast.
const redis: RedisStore = createRedisStore(createClient({ url: 'redis://127.0.0.1:6379' }), { prefix: 'sess:' });
const sql: SqlStore = createSqlStore({ dialect: 'postgres', query: pgQuery(new pg.Pool()) });
declare const sqliteDb: Parameters<typeof sqliteQuery>[0];
const sqlite: SqlStore = createSqlStore({ dialect: 'sqlite', query: sqliteQuery(sqliteDb) });
const file: FileStore = createFileStore({ dir: '/tmp/sessions' });
// unstorage itself is left out here: its own driver .d.ts files do not type-check with
// skipLibCheck false (missing optional peers); consumer.mjs runs fromUnstorage on the real thing.
declare const storage: { getItem(key: string): Promise<unknown>; setItem(key: string, value: unknown, options?: { ttl?: number }): Promise<void>; removeItem(key: string): Promise<void> };
const unstorage: Store = fromUnstorage(storage);
const connectStore: ConnectStore = new ExpressMemoryStore();
const connect: Store = fromConnectStore(connectStore);
app.use(session({ secret: 's', store: new ExpressMemoryStore(), resave: false, saveUninitialized: false }));
export const stores: Store[] = [memory, redis, sql, sqlite, file, unstorage, connect];

// testing
declare const runner: ContractRunner;
runStoreContract('memory', () => createMemoryStore(), runner, { ttlMs: 400 });

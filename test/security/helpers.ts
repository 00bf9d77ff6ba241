/**
 * Shared pieces of the security suite (test/security/*.test.ts): apps on every adapter over
 * real loopback HTTP, raw-socket requests (for headers fetch() refuses to send), a structural
 * Workers KV fake, a redis-server child process, and the store matrix used by the data and
 * prototype-pollution cases.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer as createNetServer, connect as netConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import { serve } from '@hono/node-server';
import express from 'express';
import expressSession from 'express-session';
import { Hono } from 'hono';
import pg from 'pg';
import { createClient } from 'redis';
import { createStorage } from 'unstorage';
import memoryDriver from 'unstorage/drivers/memory';
import expressAdapter, { getSession, type ExpressSessionOptions } from '../../adapters/express.ts';
import { withSession as withFetchSession, type FetchSessionOptions } from '../../adapters/fetch.ts';
import { session as honoSession, type HonoSessionOptions, type SessionVariables } from '../../adapters/hono.ts';
import { withSession as withNodeSession, type NodeSessionOptions } from '../../adapters/node.ts';
import { createMemoryStore, createSigner, fromConnectStore, type Session, type SessionData, type SessionEngine, type Store } from '../../src/index.ts';
import { createFileStore } from '../../src/stores/file.ts';
import { createKvStore, type KvNamespaceLike } from '../../src/stores/kv.ts';
import { createRedisStore } from '../../src/stores/redis.ts';
import { createSqlStore, pgQuery } from '../../src/stores/sql.ts';
import { fromUnstorage } from '../../src/stores/unstorage.ts';
import { listen } from '../helpers/http.ts';

export const SECRET = 'security suite secret: long, random enough for tests';
export const OLD_SECRET = 'security suite previous secret, also long enough';
export const REDIS_URL = process.env.REDIS_URL;
export const DATABASE_URL = process.env.DATABASE_URL;
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export const runtime = (globalThis as { Bun?: unknown }).Bun ? 'bun' : (globalThis as { Deno?: unknown }).Deno ? 'deno' : 'node';

/** `s:<id>.<signature>`: the cookie value before URL-encoding. */
export async function signedValue(id: string, secret: string = SECRET): Promise<string> {
  return `s:${await createSigner([secret]).sign(id)}`;
}

/** `name=<url-encoded signed value>`, as a browser sends it back. */
export async function cookiePair(name: string, id: string, secret: string = SECRET): Promise<string> {
  return `${name}=${encodeURIComponent(await signedValue(id, secret))}`;
}

/** The session ID in a `name=value` pair (unverified; for assertions). */
export function idOfPair(pair: string): string {
  const value = decodeURIComponent(pair.slice(pair.indexOf('=') + 1));
  return value.slice(2, value.lastIndexOf('.'));
}

/** The `name=value` pair of the Set-Cookie for `name`, or undefined. */
export function pairOf(setCookie: string[], name: string): string | undefined {
  return setCookie.find((c) => c.startsWith(`${name}=`))?.split(';', 1)[0];
}

/** Commits a session through its engine and returns the cookie it sets, as a browser sends it back (`name=value`). */
export async function committedPair<D extends SessionData>(engine: SessionEngine<D>, session: Session<D>): Promise<string> {
  return (await engine.commit(session)).setCookie[0]!.split(';', 1)[0]!;
}

// ---------------------------------------------------------------------------------------------
// Servers

/** A server on 127.0.0.1:<port>. */
export interface Running {
  url: string;
  port: number;
  close(): Promise<void>;
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
}

/** Serves a node:http listener (an Express app works too). */
export async function serveListener(listener: (req: IncomingMessage, res: ServerResponse) => void): Promise<Running> {
  const s = await listen(listener);
  return { url: s.url, port: (s.server.address() as AddressInfo).port, close: s.close };
}

/** Serves a fetch handler (Hono's app.fetch, websession/fetch) on @hono/node-server. */
export async function serveFetch(fetchHandler: (request: Request) => Response | Promise<Response>): Promise<Running> {
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: fetchHandler, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, close: closer(server) };
}

/** One response: status, parsed JSON (if any), text and the Set-Cookie values. */
export interface Reply {
  status: number;
  text: string;
  json: any;
  setCookie: string[];
  headers: Headers;
}

/** fetch() with redirects kept as they are. */
export async function get(base: string, path: string, init: { headers?: Record<string, string>; method?: string; signal?: AbortSignal } = {}): Promise<Reply> {
  const res = await fetch(base + path, { method: init.method ?? 'GET', headers: init.headers, redirect: 'manual', signal: init.signal });
  const text = init.method === 'HEAD' ? '' : await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, setCookie: res.headers.getSetCookie(), headers: res.headers };
}

/** What a raw-socket request got back. */
export interface RawReply {
  status: number;
  head: string;
  headers: Array<[string, string]>;
  setCookie: string[];
  body: string;
}

function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) break;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/**
 * Sends one HTTP/1.1 request over a raw socket: header lines are written byte for byte, so two
 * Cookie lines, raw UTF-8 or obs-text bytes reach the server exactly as given.
 */
export function rawRequest(port: number, path: string, headerLines: Array<string | Buffer>, method = 'GET'): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('connect', () => {
      const parts: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n`, 'latin1')];
      for (const line of headerLines) parts.push(typeof line === 'string' ? Buffer.from(line, 'latin1') : line, Buffer.from('\r\n'));
      parts.push(Buffer.from('\r\n'));
      socket.write(Buffer.concat(parts));
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, split < 0 ? all.length : split).toString('latin1');
      const lines = head.split('\r\n');
      const status = Number(lines[0]?.split(' ')[1] ?? 0);
      const headers = lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as [string, string]);
      let body = split < 0 ? Buffer.alloc(0) : all.subarray(split + 4);
      if (headers.some(([k, v]) => k === 'transfer-encoding' && /chunked/i.test(v))) body = dechunk(body);
      resolve({ status, head, headers, setCookie: headers.filter(([k]) => k === 'set-cookie').map(([, v]) => v), body: body.toString('utf8') });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// One app on every adapter

/** What `/whoami` answers on every adapter. */
export interface WhoAmI {
  isNew: boolean;
  reason: string | null;
  user: unknown;
}

/** An app on one adapter with `/whoami` (reads), `/write` (counts), `/login` (regenerate + set) and `/logout`. */
export interface Target extends Running {
  label: 'node' | 'express' | 'hono' | 'fetch';
}

/** Options shared by every adapter of {@link startTargets}. */
export interface TargetOptions {
  store: Store;
  name?: string;
  secure?: boolean;
  proxy?: boolean;
  secret?: string | string[];
  /** Cookie attributes on top of the defaults (every adapter). */
  cookie?: Record<string, unknown>;
  /** Further engine options (every adapter; for Express they override its saveUninitialized/resave too). */
  extra?: Record<string, unknown>;
}

async function whoami(session: Session): Promise<WhoAmI> {
  await session.load();
  return { isNew: session.isNew, reason: session.freshReason ?? null, user: (await session.get('user')) ?? null };
}

async function route(path: string, session: Session): Promise<unknown> {
  if (path === '/login') {
    await session.regenerate();
    await session.set('user', 'alice');
    return { ok: true };
  }
  if (path === '/logout') {
    await session.destroy();
    return { ok: true };
  }
  if (path === '/write') {
    await session.set('n', ((await session.get('n')) as number | undefined ?? 0) + 1);
    return { ...(await whoami(session)), id: session.id };
  }
  return whoami(session);
}

/**
 * Starts the same app on the node, Express, Hono and fetch adapters, sharing one store, secret
 * and cookie name, with express-session's defaults turned to the core's (no resave, no
 * saveUninitialized) so the four answer alike.
 */
export async function startTargets(o: TargetOptions): Promise<Target[]> {
  const name = o.name ?? 'sid';
  const cookie = { secure: o.secure ?? 'auto', sameSite: 'lax' as const, ...o.cookie };
  const common = { secret: o.secret ?? SECRET, store: o.store, name, proxy: o.proxy, idleTimeout: null, absoluteTimeout: null, ...o.extra };
  const node = await serveListener(
    withNodeSession(
      async (req, res, session) => {
        const body = JSON.stringify(await route(new URL(req.url ?? '/', 'http://x').pathname, session));
        res.setHeader('content-type', 'application/json');
        res.end(body);
      },
      { ...common, cookie } as NodeSessionOptions,
    ),
  );
  const app = express();
  app.use(expressAdapter({ ...common, cookie: { secure: o.secure ?? false, sameSite: 'lax', ...o.cookie }, resave: false, saveUninitialized: false, ...o.extra } as ExpressSessionOptions));
  app.all(/.*/, async (req, res, next) => {
    try {
      res.json(await route(req.path, getSession(req)!));
    } catch (err) {
      next(err);
    }
  });
  app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).send('Internal Server Error');
  });
  const expressServer = await serveListener(app);
  const hono = new Hono<{ Variables: SessionVariables }>();
  // What an app's error handler (and a fetch host) does: a plain 500, without logging the test's deliberate faults.
  hono.onError((_err, c) => c.text('Internal Server Error', 500));
  hono.use(honoSession({ ...common, cookie } as HonoSessionOptions));
  hono.all('*', async (c) => c.json(await route(new URL(c.req.url).pathname, c.get('session'))));
  const honoServer = await serveFetch(hono.fetch);
  const fetchHandler = withFetchSession(async (request, session) => Response.json(await route(new URL(request.url).pathname, session)), { ...common, cookie } as FetchSessionOptions);
  const fetchServer = await serveFetch((request) => fetchHandler(request).catch(() => new Response('Internal Server Error', { status: 500 })));
  return [
    { label: 'node', ...node },
    { label: 'express', ...expressServer },
    { label: 'hono', ...honoServer },
    { label: 'fetch', ...fetchServer },
  ];
}

// ---------------------------------------------------------------------------------------------
// Workers KV, structurally

/** An in-memory `KVNamespace` with KV's documented limits: `expirationTtl` >= 60 s, values <= 25 MiB. */
export interface KvFake extends KvNamespaceLike {
  readonly map: Map<string, { value: string; expiresAt: number }>;
  readonly puts: Array<{ key: string; expirationTtl: number | undefined; at: number }>;
  /** Make the next calls of an operation throw this error (until cleared). */
  readonly fail: { get?: unknown; put?: unknown; delete?: unknown };
  /** Serve reads from a stale copy that ignores expiry, as an edge cache can. */
  stale: boolean;
}

export const KV_MAX_VALUE = 25 * 1024 * 1024;

/** A structural fake of a Workers KV binding (the real one runs in workerd in test/workers). */
export function createKvFake(): KvFake {
  const map = new Map<string, { value: string; expiresAt: number }>();
  const puts: KvFake['puts'] = [];
  const fail: KvFake['fail'] = {};
  const kv: KvFake = {
    map,
    puts,
    fail,
    stale: false,
    async get(key) {
      if (fail.get) throw fail.get;
      const entry = map.get(key);
      if (entry === undefined) return null;
      if (!kv.stale && entry.expiresAt <= Date.now()) {
        map.delete(key);
        return null;
      }
      return entry.value;
    },
    async put(key, value, options) {
      if (fail.put) throw fail.put;
      const ttl = options?.expirationTtl;
      if (ttl !== undefined && !(ttl >= 60)) throw new Error(`KV PUT failed: 400 Invalid expiration_ttl of ${ttl}. Expiration TTL must be at least 60.`);
      if (value.length > KV_MAX_VALUE) throw new Error('KV PUT failed: 413 Value length of the request exceeds the limit of 25 MiB');
      map.set(key, { value, expiresAt: ttl === undefined ? Infinity : Date.now() + ttl * 1000 });
      puts.push({ key, expirationTtl: ttl, at: Date.now() });
    },
    async delete(key) {
      if (fail.delete) throw fail.delete;
      map.delete(key);
    },
  };
  return kv;
}

// ---------------------------------------------------------------------------------------------
// redis-server as a child process

/** Whether `redis-server` can be started here, or why not. */
export function redisServerMissing(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) return `redis-server is not installed (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message})`;
  return undefined;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}

/** A redis-server child on its own loopback port, which a test can kill and start again. */
export interface RedisChild {
  port: number;
  url: string;
  /** Starts (or restarts) the server on the same port; resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGKILLs the server (an outage, not a shutdown); resolves once the process is gone. */
  kill(): Promise<void>;
  /** Stops it for good and removes its directory. */
  stop(): Promise<void>;
}

export async function startRedisChild(args: string[] = []): Promise<RedisChild> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ws-sec-redis-'));
  let child: ChildProcess | undefined;
  const handle: RedisChild = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], { stdio: 'ignore' });
      child.on('error', () => {});
      const deadline = Date.now() + 10_000;
      while (!(await ping(port))) {
        if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
        await sleep(20);
      }
    },
    async kill() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await exited;
    },
    async stop() {
      await handle.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await handle.start();
  return handle;
}

// ---------------------------------------------------------------------------------------------
// The store matrix

/** A fresh store and, where the backend allows it, a way to write a raw stored value. */
export interface StoreHandle {
  store: Store;
  /** Writes `recordJson` (the text of a record, possibly not JSON at all) as session `id`'s stored value. */
  raw?(id: string, recordJson: string): Promise<void>;
  cleanup(): Promise<void>;
}

export interface StoreCase {
  name: string;
  /** Why this store is not available in this run, or undefined. */
  skip: string | undefined;
  /** Whether the store has compare-and-set (concurrent writers keep each other's keys). */
  cas: boolean;
  make(onCorrupt?: (id: string, error: unknown) => void): Promise<StoreHandle>;
}

let tableSeq = 0;
const unique = (): string => `${process.pid}_${Date.now().toString(36)}_${(tableSeq++).toString(36)}`;

/** memory, file, unstorage (memory driver), KV (fake binding), express-session's MemoryStore; Redis and PostgreSQL with REDIS_URL / DATABASE_URL. */
export function storeCases(): StoreCase[] {
  return [
    {
      name: 'memory',
      skip: undefined,
      cas: true,
      async make() {
        const store = createMemoryStore({ sweepInterval: 0 });
        // The memory store holds only what went through set(); a parsed copy is the closest raw write.
        return { store, raw: async (id, text) => void (await store.set(id, JSON.parse(text), 60_000)), cleanup: async () => store.close() };
      },
    },
    {
      name: 'file',
      skip: undefined,
      cas: false,
      async make(onCorrupt) {
        const dir = mkdtempSync(join(tmpdir(), 'ws-sec-file-'));
        const store = createFileStore({ dir, onCorrupt });
        return {
          store,
          raw: async (id, text) => {
            mkdirSync(dir, { recursive: true });
            writeFileSync(store.filePath(id), `{"e":${Date.now() + 60_000},"i":${JSON.stringify(id)},"r":${text}}`);
          },
          cleanup: async () => rmSync(dir, { recursive: true, force: true }),
        };
      },
    },
    {
      name: 'unstorage (memory driver)',
      skip: undefined,
      cas: false,
      async make(onCorrupt) {
        const storage = createStorage({ driver: memoryDriver() });
        const store = fromUnstorage(storage, { nativeTtl: false, onCorrupt });
        return { store, raw: async (id, text) => storage.setItem(`sess:${id}`, { e: Date.now() + 60_000, r: text }), cleanup: async () => storage.dispose() };
      },
    },
    {
      name: 'kv (fake binding)',
      skip: undefined,
      cas: false,
      async make(onCorrupt) {
        const kv = createKvFake();
        const store = createKvStore(kv, { onCorrupt });
        return {
          store,
          raw: async (id, text) => void kv.map.set(`sess:${id}`, { value: `{"e":${Date.now() + 60_000},"w":${Date.now()},"r":${text}}`, expiresAt: Infinity }),
          cleanup: async () => {},
        };
      },
    },
    {
      name: "express-session's MemoryStore (connect bridge)",
      skip: undefined,
      cas: false,
      async make(onCorrupt) {
        const connect = new expressSession.MemoryStore();
        const store = fromConnectStore(connect, { onCorrupt });
        return {
          store,
          raw: async (id, text) => void ((connect as unknown as { sessions: Record<string, string> }).sessions[id] = text),
          cleanup: async () => {},
        };
      },
    },
    {
      name: 'redis',
      skip: REDIS_URL ? undefined : 'REDIS_URL is not set',
      cas: true,
      async make(onCorrupt) {
        const client = createClient({ url: REDIS_URL });
        client.on('error', () => {});
        await client.connect();
        const prefix = `wssec:${unique()}:`;
        const store = createRedisStore(client, { prefix, onCorrupt });
        return {
          store,
          raw: async (id, text) => void (await client.set(prefix + id, text, { PX: 60_000 })),
          cleanup: async () => {
            const keys = await client.keys(`${prefix}*`);
            if (keys.length > 0) await client.del(keys);
            await client.close();
          },
        };
      },
    },
    {
      name: 'postgres',
      skip: DATABASE_URL ? undefined : 'DATABASE_URL is not set',
      cas: true,
      async make(onCorrupt) {
        const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 20 });
        const table = `wssec_${unique()}`;
        const store = createSqlStore({ dialect: 'postgres', query: pgQuery(pool), table, onCorrupt });
        await store.createTable();
        return {
          store,
          // A json column refuses text that is not JSON; such a value cannot exist there. The
          // version column mirrors _ws.v, as the store writes it.
          raw: async (id, text) => {
            let version = 0;
            try {
              const v = (JSON.parse(text) as { _ws?: { v?: unknown } })._ws?.v;
              if (typeof v === 'number') version = v;
            } catch {
              // not JSON: the INSERT fails, as it would for any writer
            }
            await pool.query(`INSERT INTO "${table}" (sid, sess, expire, version) VALUES ($1, $2, now() + interval '1 minute', $3) ON CONFLICT (sid) DO UPDATE SET sess = excluded.sess, version = excluded.version`, [id, text, version]);
          },
          cleanup: async () => {
            await pool.query(`DROP TABLE IF EXISTS "${table}"`);
            await pool.end();
          },
        };
      },
    },
  ];
}

/** Collects unhandled rejections and uncaught exceptions while a test runs. */
export function trackUnhandled(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const onError = (reason: unknown): void => {
    errors.push(reason);
  };
  process.on('unhandledRejection', onError);
  process.on('uncaughtException', onError);
  return {
    errors,
    stop() {
      process.off('unhandledRejection', onError);
      process.off('uncaughtException', onError);
    },
  };
}

/**
 * Tracks the timers created with delay `ms` through the global setTimeout (the engine's store
 * deadlines use it) until `restore()`: `live` holds those neither fired nor cleared. The wrappers
 * keep the originals' own properties (util.promisify.custom among them), so code that promisifies
 * the global setTimeout meanwhile still works.
 */
export function trackTimers(ms: number): { live: Set<unknown>; restore(): void } {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const live = new Set<unknown>();
  const wrappedSet = function setTimeout(fn: unknown, delay?: number, ...args: unknown[]): unknown {
    if (typeof fn !== 'function' || delay !== ms) return (realSet as (...a: unknown[]) => unknown)(fn, delay, ...args);
    const handle: unknown = realSet(() => {
      live.delete(handle);
      (fn as (...a: unknown[]) => void)(...args);
    }, delay);
    live.add(handle);
    return handle;
  };
  const wrappedClear = function clearTimeout(handle: unknown): void {
    live.delete(handle);
    realClear(handle as Parameters<typeof clearTimeout>[0]);
  };
  Object.defineProperties(wrappedSet, Object.getOwnPropertyDescriptors(realSet));
  Object.defineProperties(wrappedClear, Object.getOwnPropertyDescriptors(realClear));
  globalThis.setTimeout = wrappedSet as unknown as typeof setTimeout;
  globalThis.clearTimeout = wrappedClear as unknown as typeof clearTimeout;
  return {
    live,
    restore() {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    },
  };
}

/** The fastest of `batches` runs of `perBatch` calls, per call in ms: scheduling noise only ever adds time. */
export function fastestPerCall(run: () => unknown, batches = 20, perBatch = 10): number {
  let best = Number.POSITIVE_INFINITY;
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < perBatch; i++) run();
    best = Math.min(best, (performance.now() - t0) / perBatch);
  }
  return best;
}

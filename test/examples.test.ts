/**
 * The runnable examples in examples/, each run as a user would run it and driven over HTTP:
 * a new visitor gets `views: 1` and a cookie, a returning visitor's counter goes up, and a
 * second visitor starts at 1 again.
 *
 * - express.mjs, hono-node.mjs, node-http.mjs: child processes on the `node` found on PATH (so
 *   `npm run test:node22` runs them on Node 22; under `bun --bun` that `node` is Bun), with
 *   PORT=0; each prints the port it got.
 * - deno.ts and bun.ts: the Deno and Bun binaries that .ci/run installs into .ci/tools, when
 *   they are present.
 * - worker.ts: bundled by esbuild exactly as for deployment, then run inside workerd through
 *   Miniflare with a real (local) KV namespace; examples/wrangler.jsonc is checked to match.
 *
 * The examples import the package by its public name (`websession/express`, ...). Node, Deno,
 * Bun and esbuild resolve that self-reference through package.json `exports`, so they run the
 * built dist/: it is built here first if it is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TOOLS = join(ROOT, '.ci/tools/node_modules');
const DENO = join(TOOLS, '@deno/linux-x64-glibc/deno');
const BUN = join(TOOLS, 'bun/bin/bun');
const SECRET = 'examples-test-secret-0123456789abcdef0123';

const children = new Set<ChildProcess>();

beforeAll(() => {
  if (existsSync(join(ROOT, 'dist/src/index.js')) && existsSync(join(ROOT, 'dist/adapters/fetch.js'))) return;
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const built = spawnSync('node', [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`build of dist/ failed:\n${built.stdout}${built.stderr}`);
}, 60_000);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts an example with PORT=0 and resolves its base URL once it printed `listening on http://localhost:<port>`. */
function start(command: string, args: string[]): Promise<{ url: string; stop(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', SESSION_SECRET: SECRET, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} printed no port within 15 s.\nstdout: ${out}\nstderr: ${err}`));
    }, 15_000);
    const stop = (): Promise<void> =>
      new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const port = /listening on http:\/\/localhost:(\d+)/.exec(out)?.[1];
      if (port) {
        clearTimeout(timer);
        resolve({ url: `http://127.0.0.1:${port}/`, stop });
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${code ?? signal}) before listening.\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/** A visit: GET / with the cookie (if any); returns the body and the cookie to send next time. */
async function visit(fetchFn: Fetch, url: string, cookie?: string): Promise<{ body: string; cookie: string | undefined }> {
  const res = await fetchFn(url, cookie ? { headers: { cookie } } : {});
  expect(res.status).toBe(200);
  const body = (await res.text()).trim();
  const set = res.headers.getSetCookie().map((line) => line.split(';')[0]!);
  return { body, cookie: set[0] ?? cookie };
}

/** New visitor, returning visitor (twice), then another new visitor. */
async function expectCounter(fetchFn: Fetch, url: string): Promise<void> {
  const first = await visit(fetchFn, url);
  expect(first.body).toBe('views: 1');
  expect(first.cookie).toMatch(/^[\w.-]+=s%3A[\w-]+\.[\w%+/]+$/);
  const second = await visit(fetchFn, url, first.cookie);
  expect(second.body).toBe('views: 2');
  const third = await visit(fetchFn, url, second.cookie);
  expect(third.body).toBe('views: 3');
  const other = await visit(fetchFn, url);
  expect(other.body).toBe('views: 1');
  expect(other.cookie).not.toBe(first.cookie);
}

const viaNetwork: Fetch = (url, init) => fetch(url, init);

async function runExample(command: string, args: string[]): Promise<void> {
  const app = await start(command, args);
  try {
    await expectCounter(viaNetwork, app.url);
  } finally {
    await app.stop();
  }
}

describe('examples on Node.js', () => {
  it.each(['express.mjs', 'hono-node.mjs', 'node-http.mjs'])('examples/%s counts a returning visitor', async (file) => {
    await runExample('node', [join('examples', file)]);
  });
});

describe('examples on Deno and Bun', () => {
  it.skipIf(!existsSync(DENO))('examples/deno.ts on Deno (skipped: no .ci/tools Deno; run .ci/run or npm ci in .ci/tools)', async () => {
    await runExample(DENO, ['run', '--allow-net', '--allow-env', '--allow-read', 'examples/deno.ts']);
  });

  it.skipIf(!existsSync(BUN))('examples/bun.ts on Bun (skipped: no .ci/tools Bun; run .ci/run or npm ci in .ci/tools)', async () => {
    await runExample(BUN, ['examples/bun.ts']);
  });
});

describe('examples/worker.ts in workerd (Miniflare)', () => {
  it('counts a returning visitor with sessions in Workers KV', async () => {
    const { buildSync } = await import('esbuild');
    const { Miniflare } = await import('miniflare');
    // What `wrangler deploy` would upload: one ES module, worker conditions, no Node built-ins.
    const script = buildSync({
      entryPoints: [join(ROOT, 'examples/worker.ts')],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      mainFields: ['module', 'main'],
      conditions: ['workerd', 'worker', 'browser'],
      write: false,
      logLevel: 'error',
    }).outputFiles[0]!.text;
    const mf = new Miniflare({
      modules: true,
      script,
      kvNamespaces: ['SESSIONS'],
      bindings: { SESSION_SECRET: SECRET },
      compatibilityDate: '2026-04-01',
    });
    try {
      const dispatch: Fetch = (url, init) => mf.dispatchFetch(url, init as never) as unknown as Promise<Response>;
      await expectCounter(dispatch, 'http://localhost/');
      // The session really is in KV, under the store's prefix.
      const kv = await mf.getKVNamespace('SESSIONS');
      const { keys } = await kv.list({ prefix: 'sess:' });
      expect(keys.length).toBe(2);
    } finally {
      await mf.dispose();
    }
  });

  it('examples/wrangler.jsonc runs that file with the same bindings', () => {
    // `wrangler dev -c examples/wrangler.jsonc` is the README's way to run it; check the config
    // names this file, the KV binding and the compatibility date used above.
    const text = readFileSync(join(ROOT, 'examples/wrangler.jsonc'), 'utf8').replace(/^\s*\/\/.*$/gm, '');
    const config = JSON.parse(text) as { main: string; compatibility_date: string; kv_namespaces: { binding: string }[] };
    expect(config.main).toBe('worker.ts');
    expect(config.compatibility_date).toBe('2026-04-01');
    expect(config.kv_namespaces.map((ns) => ns.binding)).toEqual(['SESSIONS']);
  });
});

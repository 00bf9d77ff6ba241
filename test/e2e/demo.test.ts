/**
 * The demo app (demo/server.mjs, what `npm start` runs) end to end in a real browser: headless
 * Chromium from Debian (/usr/bin/chromium, or CHROME_PATH) driven by playwright-core, against
 * `node demo/server.mjs` on loopback with its embedded store in a temp DEMO_DATA_DIR (REDIS_URL
 * is removed from its environment, so on Node 20 that is the file store, on Node 22+ SQLite).
 *
 * One story, in order: sign in; the welcome flash shows once; the counter goes up; the server
 * is stopped and started again on the same data dir and port, and the browser is still signed
 * in with its count; a second browser (another context: its own cookie jar) signs in as the
 * same user, sees both sessions on the sessions page and signs out everywhere; the first
 * browser is then signed out on reload.
 *
 * Runs with `npm run test:e2e` (vitest.e2e.config.ts), not in the default `vitest run`.
 * SCREENSHOT_DIR=<dir> keeps screenshots of the pages (else they go to a temp dir that is removed).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CHROME = process.env.CHROME_PATH ?? '/usr/bin/chromium';
// The flags that work on this project's machines (closed network, root, no GPU). Playwright
// adds --headless and gives every launch a new empty --user-data-dir of its own (it refuses
// one in `args`); --no-sandbox is needed as root.
const CHROME_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface Demo {
  url: string;
  port: number;
  child: ChildProcess;
  log(): string;
}

const work = mkdtempSync(join(tmpdir(), 'websession-e2e-'));
const dataDir = join(work, 'data');
const shots = process.env.SCREENSHOT_DIR ?? join(work, 'screenshots');
let demo: Demo | undefined;
let browser: Browser | undefined;

/** Starts the demo with PORT (0: any free port) and resolves once it printed its URL. */
function startDemo(port: number): Promise<Demo> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DEMO_DATA_DIR: dataDir, NO_COLOR: '1' };
  delete env.REDIS_URL; // the embedded, persistent store is what `npm start` gives a newcomer
  delete env.SESSION_SECRET; // the demo keeps its own secret next to the data
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['demo/server.mjs'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo did not start within 15 s:\n${out}`));
    }, 15_000);
    const collect = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      const m = /websession demo on http:\/\/localhost:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: `http://127.0.0.1:${m[1]}`, port: Number(m[1]), child, log: () => out });
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${code ?? signal}) before listening:\n${out}`));
    });
  });
}

/** SIGTERM, as Ctrl-C or a process manager would; resolves with the exit code. */
function stopDemo(d: Demo): Promise<number | null> {
  return new Promise((resolve) => {
    if (d.child.exitCode !== null || d.child.signalCode !== null) return resolve(d.child.exitCode);
    const kill = setTimeout(() => d.child.kill('SIGKILL'), 10_000);
    d.child.once('exit', (code) => {
      clearTimeout(kill);
      resolve(code);
    });
    d.child.kill('SIGTERM');
  });
}

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser!.newContext({ viewport: { width: 900, height: 640 } });
  context.setDefaultTimeout(10_000);
  return { context, page: await context.newPage() };
}

async function signIn(page: Page, name: string): Promise<void> {
  await page.goto(`${demo!.url}/`);
  await page.fill('#name', name);
  await Promise.all([page.waitForURL(`${demo!.url}/`), page.click('#login')]);
}

const counter = async (page: Page): Promise<string | null> => page.textContent('#counter');

async function increment(page: Page): Promise<void> {
  await Promise.all([page.waitForURL(`${demo!.url}/`), page.click('#increment')]);
}

const hasChrome = existsSync(CHROME);

describe.skipIf(!hasChrome)(`demo app in headless Chromium (${CHROME})`, () => {
  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist/adapters/express.js'))) {
      const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
      const built = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
      if (built.status !== 0) throw new Error(`build of dist/ failed:\n${built.stdout}${built.stderr}`);
    }
    mkdirSync(shots, { recursive: true });
    [demo, browser] = await Promise.all([startDemo(0), chromium.launch({ executablePath: CHROME, headless: true, args: CHROME_ARGS })]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (demo) await stopDemo(demo);
    if (!process.env.SCREENSHOT_DIR) rmSync(work, { recursive: true, force: true });
  });

  it('signs in, counts, survives a restart, and "sign out everywhere" signs out the other browser', async () => {
    const { page: first } = await newPage();

    // A new visitor sees the sign-in form, and no session is stored for them yet.
    await first.goto(`${demo!.url}/`);
    await expect.poll(() => first.isVisible('#name')).toBe(true);
    expect(await first.textContent('small')).toMatch(/Store: (files in|SQLite)/);

    // Sign in: the welcome flash shows once, the counter starts at 0.
    await signIn(first, 'alice');
    expect(await first.textContent('#user')).toBe('alice');
    expect(await first.textContent('.flash')).toBe('Welcome, alice!');
    expect(await counter(first)).toBe('0');
    await first.reload();
    expect(await first.isVisible('.flash')).toBe(false);

    await increment(first);
    await increment(first);
    expect(await counter(first)).toBe('2');
    const cookies = await first.context().cookies();
    expect(cookies.map((c) => c.name)).toEqual(['connect.sid']);
    expect(cookies[0]!.httpOnly).toBe(true);
    await first.screenshot({ path: join(shots, '1-signed-in.png'), fullPage: true });

    // Restart the server on the same data dir and port: the session is still there.
    const port = demo!.port;
    expect(await stopDemo(demo!)).toBe(0);
    demo = await startDemo(port);
    await first.reload();
    expect(await first.textContent('#user')).toBe('alice');
    expect(await counter(first)).toBe('2');
    await increment(first);
    expect(await counter(first)).toBe('3');

    // A second browser signs in as alice: a new session with its own counter.
    const { page: second } = await newPage();
    await signIn(second, 'alice');
    expect(await second.textContent('.flash')).toBe('Welcome, alice!');
    expect(await counter(second)).toBe('0');

    // Its sessions page lists both browsers.
    await second.goto(`${demo!.url}/sessions`);
    const rows = await second.locator('li.session').allTextContents();
    expect(rows).toHaveLength(2);
    expect(rows.filter((r) => r.startsWith('this browser'))).toHaveLength(1);
    expect(rows.filter((r) => r.startsWith('another browser'))).toHaveLength(1);
    await second.screenshot({ path: join(shots, '2-sessions.png'), fullPage: true });

    // Sign out everywhere: the second browser lands on the sign-in form...
    await Promise.all([second.waitForURL(`${demo!.url}/`), second.click('#logout-everywhere')]);
    expect(await second.isVisible('#name')).toBe(true);
    expect(await second.isVisible('#user')).toBe(false);

    // ...and the first one is signed out on its next request, its count gone.
    await first.reload();
    expect(await first.isVisible('#name')).toBe(true);
    expect(await first.isVisible('#user')).toBe(false);
    await first.goto(`${demo!.url}/sessions`);
    expect(await first.textContent('body')).toContain('Sign in first.');
    await first.screenshot({ path: join(shots, '3-signed-out.png'), fullPage: true });

    // Nothing of alice's is left in the store (file store: one file per session).
    const sessionsDir = join(dataDir, 'sessions');
    if (existsSync(sessionsDir)) expect(readdirSync(sessionsDir).filter((f) => f.endsWith('.json'))).toEqual([]);
  }, 90_000);
});

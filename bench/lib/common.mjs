// Helpers shared by the bench scripts: machine facts, CPU pinning, child processes, statistics,
// and the table printer. No dependencies beyond Node itself.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = join(BENCH_DIR, '..');

/** The line a child bench script prints its machine-readable result on. */
export const JSON_MARK = 'BENCH_JSON ';

export function hasTaskset() {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Read once at start-up: once this process is pinned, availableParallelism() reports 1.
const CPU_COUNT = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
const LOAD_AT_START = os.loadavg();

export function cpuCount() {
  return CPU_COUNT;
}

/**
 * The pinning plan: the server (and single-core micro benchmarks) on core 0, the load generator
 * (this process) on core 1. Needs taskset and at least 2 usable cores; otherwise nothing is pinned.
 */
export const pinning = (() => {
  const taskset = hasTaskset();
  const cores = cpuCount();
  const enabled = taskset && cores >= 2 && process.env.BENCH_NO_PIN !== '1';
  const reason = enabled ? 'server on core 0, load generator on core 1 (taskset)' : !taskset ? 'taskset not found: server and load generator are not pinned' : cores < 2 ? `only ${cores} core: server and load generator share it` : 'BENCH_NO_PIN=1: not pinned';
  return { enabled, reason, serverCore: '0', clientCore: '1' };
})();

/** Pins the current process (all its threads) to the load generator's core. */
export function pinSelfToClientCore() {
  if (!pinning.enabled) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', pinning.clientCore, String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Spawns `node [nodeArgs] file [args]`, on the server core when pinning is enabled. */
export function spawnNode(file, args = [], { nodeArgs = [], stdio = ['ignore', 'pipe', 'pipe'], env = process.env } = {}) {
  const argv = [...nodeArgs, file, ...args];
  if (pinning.enabled) return spawn('taskset', ['-c', pinning.serverCore, process.execPath, ...argv], { stdio, env, cwd: ROOT });
  return spawn(process.execPath, argv, { stdio, env, cwd: ROOT });
}

/** Runs a bench script as a child (on the server core) and returns the JSON it printed after JSON_MARK. */
export function runChildJson(file, args = [], { nodeArgs = [], timeoutMs = 300_000, onLine } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawnNode(file, [...args, '--json'], { nodeArgs });
    let out = '';
    let err = '';
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      buffered += d;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.startsWith(JSON_MARK)) onLine?.(line);
      }
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(JSON_MARK));
      if (code !== 0 || !line) return reject(new Error(`${file} exited with ${code}\n${err.slice(-2000)}`));
      resolve(JSON.parse(line.slice(JSON_MARK.length)));
    });
  });
}

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function cpuModel() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) return line.split(':').slice(1).join(':').trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

export function machine() {
  return {
    nproc: cpuCount(),
    cpu: cpuModel(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavgStart: LOAD_AT_START.map((x) => x.toFixed(2)).join(' '),
    loadavgNow: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    pinning: pinning.reason,
  };
}

export const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
export const fmtRatio = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}x` : 'n/a');
export const fmtBytes = (b) => (b >= 1024 ? `${(b / 1024).toFixed(2)} KB` : `${Math.round(b)} B`);

/** A Markdown table (readable as plain text too): `rows` are arrays of cells. */
export function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map((c) => String(c ?? '')));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(all[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...all.slice(1).map(line)].join('\n');
}

/** True when `import.meta.url` is the script node was started with. */
export function isMain(url) {
  return process.argv[1] !== undefined && fileURLToPath(url) === process.argv[1];
}

export function distBuilt() {
  return existsSync(join(ROOT, 'dist/src/index.js'));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Where the built package is read from. `run.mjs` snapshots dist/ once at start (other people may
 * rebuild or `rm -rf dist` in a shared checkout while a run is going) and passes the copy to every
 * child through WEBSESSION_DIST; on its own, a script reads dist/ directly. The snapshot lives under
 * bench/ so that the package's own dependencies (cookie) resolve from the repository's node_modules.
 */
export const DIST = process.env.WEBSESSION_DIST ?? join(ROOT, 'dist');

/** Imports a module of the built package, e.g. `websession('adapters/express.js')`. */
export function websession(subpath) {
  return import(pathToFileURL(join(DIST, subpath)).href);
}

/** Copies dist/src and dist/adapters (JavaScript only) to bench/.dist-snapshot-<pid>/ and points DIST there for children. */
export function snapshotDist() {
  const target = join(BENCH_DIR, `.dist-snapshot-${process.pid}`);
  for (const part of ['src', 'adapters']) {
    cpSync(join(ROOT, 'dist', part), join(target, part), { recursive: true, filter: (src) => !/\.(d\.ts|map)$/.test(src) });
  }
  process.env.WEBSESSION_DIST = target;
  const remove = () => rmSync(target, { recursive: true, force: true });
  process.on('exit', remove);
  return target;
}

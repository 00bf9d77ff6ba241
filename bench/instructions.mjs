// Instructions per request: each bench server runs under valgrind's callgrind, which counts the
// machine instructions the server process executes. The count depends far less on what else the
// machine is doing: two runs of one build made side by side agree to within 0.7 %, where req/s
// and CPU time move by ±10–30 % between rounds on this shared VM. So two builds, or two libraries,
// can be compared to about 1 %. Runs made at different times differ more (up to 3 % seen): timers
// that follow the clock fire more often per request when the machine is slower.
//
//   node bench/instructions.mjs [--groups express,hono,node] [--scenarios S1,S2,S3,S4,S5R,S5W]
//                               [--variants express-bare,express-websession] [--requests 1000]
//                               [--warmup 10000] [--jobs 2] [--repeat 1] [--keep DIR] [--json]
//
// Method, for each server and scenario:
//   - the server (bench/servers/<variant>.mjs, the same ones bench/http.mjs measures over HTTP)
//     is started under `valgrind --tool=callgrind` with V8 made repeatable: `--single-threaded`
//     (no background compiler or GC threads), fixed hash and random seeds,
//     `--predictable-gc-schedule` (heap sizes that do not follow the clock), and an old generation
//     large enough that no full GC falls inside a run (one full GC moved a result by 10 %);
//   - one client connection (keep-alive, requests one after another) logs in where the scenario
//     needs a session, sends `--warmup` requests, then N more, and stops the server. The warm-up
//     is long because V8 keeps optimising for about 9,000 requests (`--trace-opt`); with 3,000,
//     a third of the instructions counted for Hono S1 were the optimising compiler's;
//   - this is done twice, with N = requests and N = 3 × requests; the difference of the two totals
//     divided by 2 × requests is the cost of one request, with start-up, log-in and warm-up
//     cancelled out.
// The garbage collector is counted apart (from `callgrind_annotate`'s per-function counts): it
// runs in whole scavenges, each worth many requests, so a run holds a whole number of them and a
// server that allocates a little more can show zero or two. V8's optimising compiler is counted
// apart for a like reason: under valgrind, functions that timers call (once a second, say) are
// called 20-60 times more often per request and can reach TurboFan after the warm-up, and one
// such compile inside a window added 40,000 instructions per request to a websession/node S2 run
// (75,769 against 115,380 for the same build, side by side). The ratios use the counts without
// GC and compiler.
// The floor servers are measured in S1 too: there they are one middleware that finds no session.
// The result is instructions per request and their ratios (the inverse of a speed ratio). It is
// not a time: cache misses, branch mispredictions and the kernel's side of system calls are not
// in it, and the loopback client runs outside valgrind. Use it to compare builds and to see where
// a gap comes from; bench/http.mjs stays the measure for the req/s targets.
// `--keep DIR` keeps the callgrind files, and V8's perf map of each run (`--perf-basic-prof`):
// `node bench/instructions-by-function.mjs DIR <variant> <scenario> [<other variant>]` then lists
// instructions per request by function, JavaScript included (`callgrind_annotate DIR/<file>`
// alone shows compiled JavaScript as addresses).
//
// Under valgrind a request runs 20–60 times slower: one server and scenario takes one to three
// minutes with the defaults; `--jobs 2` runs two at a time (four valgrind processes). Counts depend
// little on load, but not nothing: clock-driven work (timers, the memory store's touch) happens
// more often per request on a slower machine, so compare builds side by side.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { RETURNING, SCENARIO_TEXT, VARIANTS, loginCookies, startServer } from './http.mjs';
import { BENCH_DIR, JSON_MARK, ROOT, fmtInt, fmtRatio, isMain, table } from './lib/common.mjs';

/** The V8 flags that make a run repeatable: no background threads, fixed seeds. */
const DETERMINISTIC = ['--single-threaded', '--hash-seed=1', '--random-seed=1', '--initial-old-space-size=512', '--predictable-gc-schedule'];
const COOKIE_POOL = 8;

export function valgrindMissing() {
  try {
    const out = execFileSync('valgrind', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return /valgrind-\d/.test(out) ? undefined : 'valgrind --version printed nothing recognisable';
  } catch (error) {
    return `valgrind not found (${error.code ?? error.message})`;
  }
}

/** Starts `variant` for `scenario` under callgrind (bench/http.mjs's `startServer`); `stop()` resolves the counts. */
async function startCounted(variant, scenario, outFile, perfMap) {
  // --perf-basic-prof also turns on V8's log: sent to a file beside the counts, not into the repository.
  const flags = perfMap ? [...DETERMINISTIC, '--perf-basic-prof', `--logfile=${outFile}.v8.log`, '--no-logfile-per-isolate'] : DETERMINISTIC;
  const launch = (file) =>
    spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${outFile}`, '--smc-check=all-non-file', process.execPath, ...flags, file, scenario], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  // Under valgrind start-up takes up to a minute, and the output file is written on the way out.
  const server = await startServer(variant, scenario, { launch, timeoutMs: 120_000, stopGraceMs: 120_000 });
  const stop = async () => {
    await server.stop();
    const { exitCode, signalCode } = server.child;
    if (exitCode !== 0) throw new Error(`${variant} ${scenario}: server under valgrind ended with ${exitCode ?? signalCode}\n${server.stderr()}`);
    // V8 writes the map under the server's PID (valgrind runs node in its own process).
    const map = `/tmp/perf-${server.child.pid}.map`;
    if (perfMap && existsSync(map)) {
      copyFileSync(map, `${outFile}.map`);
      rmSync(map, { force: true });
    }
    rmSync(`${outFile}.v8.log`, { force: true });
    return totalInstructions(outFile);
  };
  return { port: server.port, stop };
}

/** V8's garbage collector, by function name (scavenges, marking, sweeping, evacuation, heap bookkeeping). */
const GC_FUNCTIONS = /Scaveng|Evacuat|Pretenuring|SemiSpace|NewSpace|IterateObjectCache|BodyDescriptor|Marking|MarkCompact|Sweeper|v8::internal::Heap::|MemoryChunk|RememberedSet|SlotSet|GlobalHandles|heap::base::/;

/** V8's optimising compiler (TurboFan, Maglev), by function name: warm-up work, not a request's. */
const COMPILER_FUNCTIONS = /v8::internal::compiler::|v8::internal::maglev::/;

/**
 * `callgrind_annotate`'s self instructions per function of one callgrind file, as `[name, count]`
 * rows, names as it prints them (code V8 compiled shows as `???:0x...`). Throws when
 * callgrind_annotate is missing.
 */
export function selfCounts(outFile) {
  const listing = execFileSync('callgrind_annotate', ['--threshold=100', '--inclusive=no', outFile], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] });
  const rows = [];
  for (const row of listing.split('\n')) {
    const m = /^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*)$/.exec(row);
    if (m && !m[2].includes('PROGRAM TOTALS')) rows.push([m[2].trim(), Number(m[1].replaceAll(',', ''))]);
  }
  return rows;
}

/**
 * Instructions executed (the `summary:` line) and, from `callgrind_annotate`'s per-function self
 * counts, those of the garbage collector and of the optimising compiler. GC comes in whole
 * scavenges, so a window of a few thousand requests holds a whole number of them; a late
 * optimisation is one lump too: both are reported apart.
 */
function totalInstructions(outFile) {
  const text = readFileSync(outFile, 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('summary:') || l.startsWith('totals:'));
  if (!line) throw new Error(`${outFile}: no summary line`);
  const total = Number(line.split(/\s+/)[1]);
  let gc = Number.NaN;
  let compiler = Number.NaN;
  try {
    const rows = selfCounts(outFile);
    gc = 0;
    compiler = 0;
    for (const [name, count] of rows) {
      if (GC_FUNCTIONS.test(name)) gc += count;
      else if (COMPILER_FUNCTIONS.test(name)) compiler += count;
    }
  } catch {
    // callgrind_annotate (valgrind's own Perl script) missing: totals only.
  }
  return { total, gc, compiler };
}

/** One sequential client on one keep-alive connection. */
function client(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path, cookie) =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent, headers: cookie ? { cookie } : {} }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.setTimeout(60_000, () => req.destroy(new Error(`GET ${path} timed out under valgrind`)));
    });
  return { get, close: () => agent.destroy() };
}

/** Total instructions of one server run: log-in, `warmup` requests, then `n`. */
async function countRun(variant, scenario, warmup, n, dir, tag, perfMap) {
  const outFile = join(dir, `${variant}-${scenario}-${n}${tag}.out`);
  const server = await startCounted(variant, scenario, outFile, perfMap);
  const c = client(server.port);
  try {
    // Log-ins (bench/http.mjs's, look-alike cookies for bare servers) are part of start-up: cancelled out.
    const cookies = RETURNING.includes(scenario) ? await loginCookies({ variant, port: server.port }, COOKIE_POOL) : [undefined];
    let i = 0;
    const one = async () => {
      const res = await c.get('/', cookies[i++ % cookies.length]);
      if (res.status !== 200) throw new Error(`${variant} ${scenario}: status ${res.status}`);
      return res;
    };
    const first = await one();
    if ((scenario === 'S2' || scenario === 'S5R') && first.body !== 'hi alice') throw new Error(`${variant} ${scenario}: expected "hi alice", got ${JSON.stringify(first.body)}`);
    for (let k = 1; k < warmup; k++) await one();
    for (let k = 0; k < n; k++) await one();
  } finally {
    c.close();
  }
  return server.stop();
}

/** Instructions per request of `variant` in `scenario` (two runs, the difference): `{ total, gc, compiler }`. */
export async function perRequest(variant, scenario, { requests, warmup, dir, tag = '', perfMap = false }) {
  const run = (n) => countRun(variant, scenario, warmup, n, dir, tag, perfMap);
  const [small, large] = await Promise.all([run(requests), run(3 * requests)]);
  const per = (key) => (large[key] - small[key]) / (2 * requests);
  return { total: per('total'), gc: per('gc'), compiler: per('compiler') };
}

function parseArgs(argv) {
  const o = { groups: ['express', 'hono', 'node'], scenarios: ['S1', 'S2', 'S3', 'S4'], requests: 1000, warmup: 10000, jobs: 1, repeat: 1, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--groups') o.groups = next().split(',');
    else if (a === '--scenarios') o.scenarios = next().toUpperCase().split(',');
    else if (a === '--variants') o.variants = next().split(',');
    else if (a === '--requests') o.requests = Number(next());
    else if (a === '--warmup') o.warmup = Number(next());
    else if (a === '--jobs') o.jobs = Number(next());
    else if (a === '--repeat') o.repeat = Number(next());
    else if (a === '--json') o.json = true;
    else if (a === '--keep') o.keep = next();
    else throw new Error(`unknown argument ${a}`);
  }
  for (const s of o.scenarios) if (!['S1', 'S2', 'S3', 'S4', 'S5R', 'S5W'].includes(s)) throw new Error(`--scenarios: ${s} is not one of S1, S2, S3, S4, S5R, S5W`);
  // The Redis round trips run outside valgrind; the server's own side of them is counted.
  if (o.scenarios.some((s) => s.startsWith('S5')) && !process.env.REDIS_URL) throw new Error('--scenarios S5R/S5W need REDIS_URL (a Redis server to use)');
  return o;
}

/** Runs every (variant, scenario) pair; returns { [scenario]: { [variant]: [per-request counts] } }. */
export async function runInstructions(options) {
  const o = { ...parseArgs([]), ...options };
  if (o.keep) mkdirSync(o.keep, { recursive: true });
  const dir = o.keep ?? mkdtempSync(join(os.tmpdir(), 'ws-callgrind-'));
  const jobs = [];
  for (const scenario of o.scenarios) {
    for (const [variant, { group, role }] of Object.entries(VARIANTS)) {
      if (!o.groups.includes(group)) continue;
      if (o.variants && !o.variants.includes(variant)) continue;
      // The floor servers answer S1 too: one middleware that finds no session (the floor of S1).
      if (role === 'floor' && scenario !== 'S1' && scenario !== 'S2') continue;
      if (!existsSync(join(BENCH_DIR, 'servers', `${variant}.mjs`))) continue;
      for (let r = 0; r < o.repeat; r++) jobs.push({ variant, scenario, tag: o.repeat > 1 ? `-${r}` : '' });
    }
  }
  const results = {};
  // Each job runs two servers at once (small and large count), so `jobs` of them use 2 × jobs cores.
  const parallel = Math.max(1, Math.floor(o.jobs));
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { variant, scenario, tag } = jobs[next++];
      const t0 = Date.now();
      const value = await perRequest(variant, scenario, { requests: o.requests, warmup: o.warmup, dir, tag, perfMap: o.keep !== undefined });
      ((results[scenario] ??= {})[variant] ??= []).push(value);
      process.stderr.write(`[instructions] ${scenario} ${variant}: ${fmtInt(value.total)} per request, ${fmtInt(value.gc)} of them GC, ${fmtInt(value.compiler)} compiler (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
  };
  try {
    await Promise.all(Array.from({ length: parallel }, worker));
  } finally {
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

const ROLE_ORDER = { bare: 0, floor: 1, peer: 2, ours: 3 };

/**
 * Table rows: per-request instructions with and without GC and the optimising compiler, and each
 * row's speed relative to the group's bare server and to websession, from the counts without
 * either (which do not jump with the number of whole scavenges or late compiles inside a run).
 */
export function instructionRows(results) {
  const rows = [];
  for (const [scenario, byVariant] of Object.entries(results)) {
    const avg = (values) => values.reduce((a, b) => a + b, 0) / values.length;
    const all = (v) => avg(byVariant[v].map((x) => x.total));
    const gc = (v) => avg(byVariant[v].map((x) => x.gc));
    const compiler = (v) => avg(byVariant[v].map((x) => x.compiler ?? Number.NaN));
    const known = (n) => (Number.isFinite(n) ? n : 0);
    const mean = (v) => all(v) - known(gc(v)) - known(compiler(v));
    const variants = Object.keys(byVariant).sort((a, b) => VARIANTS[a].group.localeCompare(VARIANTS[b].group) || ROLE_ORDER[VARIANTS[a].role] - ROLE_ORDER[VARIANTS[b].role]);
    for (const v of variants) {
      const { group, label, role } = VARIANTS[v];
      const bare = variants.find((x) => VARIANTS[x].group === group && VARIANTS[x].role === 'bare');
      const ours = variants.find((x) => VARIANTS[x].group === group && VARIANTS[x].role === 'ours');
      const totals = byVariant[v].map((x) => x.total);
      const spread = totals.length > 1 ? `±${fmtInt((Math.max(...totals) - Math.min(...totals)) / 2)}` : '';
      rows.push([
        scenario,
        label,
        fmtInt(all(v)),
        spread,
        fmtInt(gc(v)),
        fmtInt(compiler(v)),
        fmtInt(mean(v)),
        bare && v !== bare ? fmtRatio(mean(bare) / mean(v)) : '',
        ours && v !== ours && role !== 'bare' ? fmtRatio(mean(v) / mean(ours)) : '',
      ]);
    }
  }
  return rows;
}

if (isMain(import.meta.url)) {
  const o = parseArgs(process.argv.slice(2));
  const missing = valgrindMissing();
  if (missing) {
    console.error(`bench/instructions.mjs needs valgrind: ${missing}`);
    process.exit(2);
  }
  const results = await runInstructions(o);
  if (o.json) console.log(JSON_MARK + JSON.stringify(results));
  console.log(`instructions per request under callgrind (N = ${o.requests} and ${3 * o.requests} after ${o.warmup} warm-up requests), Node ${process.version}`);
  for (const s of o.scenarios) console.log(`  ${s}: ${SCENARIO_TEXT[s]}`);
  console.log(table(['scenario', 'server', 'instructions/request', 'spread', 'of them GC', 'of them compiler', 'without both', 'speed vs bare (without both)', 'websession speed vs it (without both)'], instructionRows(results)));
}

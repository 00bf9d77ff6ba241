// Runs every benchmark and prints ONE table: HTTP scenarios (S1-S5) per framework with the peers
// measured in the same run, then the micro, memory and bundle figures, each with its target.
//
//   npm run bench          = npx tsc -p tsconfig.build.json && node bench/run.mjs
//   npm run bench:smoke    = the same, one short round of each group (~30 s); exits 0 whenever
//                            everything ran, whatever the ratios (CI runs it so the bench cannot rot)
//   node bench/run.mjs [--smoke] [--rounds N] [--duration S] [--warmup S] [--scenarios S1,S2]
//                      [--groups express,hono,node,fetch] [--only http,micro,memory,bundle] [--out FILE.md]
//                      (fetch, a fetch handler bare and with websession/fetch, is opt-in; the smoke run includes it)
//
// Exit code: 1 when a benchmark failed to run (a server did not start, a probe failed, non-2xx
// responses, ...), 0 otherwise. Missed targets are reported, never an error: timings are not tests.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleRows, runBundle } from './bundle.mjs';
import { CLIENT_BOUND, HEADER, evaluate, httpRows, runHttp, SCENARIO_TEXT, VARIANTS } from './http.mjs';
import { BENCH_DIR, ROOT, distBuilt, fmtRatio, machine, pinSelfToClientCore, pinning, runChildJson, snapshotDist, table } from './lib/common.mjs';
import { memoryRows } from './memory.mjs';
import { microRows } from './micro.mjs';

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const smoke = flag('--smoke');
const only = (value('--only') ?? 'bundle,micro,memory,http').split(',');
const started = Date.now();
const info = machine();
const log = (line) => process.stderr.write(`${line}\n`);

if (!distBuilt()) {
  console.error('dist/ is not built: run `npx tsc -p tsconfig.build.json` first (npm run bench does)');
  process.exit(1);
}
// Read the build once: a rebuild by someone else during the run must not change (or break) it.
snapshotDist();
pinSelfToClientCore();
let revision = 'unknown';
try {
  const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'adapters'], { cwd: ROOT, encoding: 'utf8' }).trim();
  revision = `${head}${dirty ? ' + uncommitted changes in src/ or adapters/' : ''}`;
} catch {
  // not a git checkout
}

const command = `node bench/run.mjs ${args.join(' ')}`.trim();
console.log(`# websession benchmarks${smoke ? ' (smoke: one short round, numbers are meaningless)' : ''}`);
console.log(`command: ${command}`);
console.log(`machine: ${info.nproc} cores (nproc), ${info.cpu}, ${info.memGiB} GiB, ${info.platform}, Node ${info.node}`);
console.log(`pinning: ${pinning.reason}`);
console.log(`code: ${revision} (dist/ built from it, read once at start)`);
console.log(`load average at start: ${info.loadavgStart}`);
console.log('');

const failures = [];
const sections = {};
async function section(name, run) {
  if (!only.includes(name)) return;
  const t0 = Date.now();
  log(`[${name}] running`);
  try {
    sections[name] = await run();
    log(`[${name}] done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (error) {
    failures.push(`${name}: ${error.stack ?? error}`);
    log(`[${name}] FAILED: ${error.message}`);
  }
}

await section('bundle', () => runBundle());
await section('micro', () => runChildJson(join(BENCH_DIR, 'micro.mjs'), smoke ? ['--smoke'] : [], { timeoutMs: 180_000 }));
await section('memory', () => runChildJson(join(BENCH_DIR, 'memory.mjs'), smoke ? ['--smoke'] : [], { nodeArgs: ['--expose-gc'], timeoutMs: 300_000 }));
await section('http', () =>
  runHttp({
    smoke,
    log,
    rounds: value('--rounds') ? Number(value('--rounds')) : undefined,
    duration: value('--duration') ? Number(value('--duration')) : undefined,
    warmup: value('--warmup') ? Number(value('--warmup')) : undefined,
    scenarios: value('--scenarios')?.toUpperCase().split(','),
    // The smoke run also starts the opt-in fetch-handler group, so its servers cannot rot.
    groups: value('--groups')?.split(',') ?? (smoke ? ['express', 'hono', 'node', 'fetch'] : undefined),
  }),
);

const rows = [];
if (sections.http) rows.push(...httpRows(sections.http));
// Those rows have no server-CPU column: add it empty after p99.
const padded = (list) => list.map((r) => [...r.slice(0, 5), '', ...r.slice(5)]);
if (sections.micro) rows.push(...padded(microRows(sections.micro)));
if (sections.memory) rows.push(...padded(memoryRows(sections.memory)));
if (sections.bundle) rows.push(...padded(bundleRows(sections.bundle)));
const out = [];
out.push(table(HEADER, rows));
out.push('');

// The targets, one line each.
const summary = [];
if (sections.http) {
  const s = sections.http.settings;
  out.push(`HTTP: ${s.rounds} interleaved round(s) of ${s.duration} per variant after ${s.warmup} s warm-up, ${s.connections} connections, ${s.cookies} returning visitors (cookies) in S2/S3; ${s.pinning}.`);
  out.push('Result = median req/s over rounds; spread = half the min-max range over rounds; ratio = median over rounds of the two req/s measured in the same round.');
  out.push('Server CPU/req = CPU time of the server process per request (median over rounds): it does not depend on who set the pace, and CPU stolen by other processes is not in it, so on a noisy machine it is the steadier figure.');
  out.push(`† = client-bound: the load generator used ≥${CLIENT_BOUND * 100}% of its core, so the server could go faster and a ratio against this row flatters the other side.`);
  out.push(`Scenarios: ${Object.entries(SCENARIO_TEXT).map(([k, v]) => `${k} ${v}`).join('; ')}.`);
  for (const c of evaluate(sections.http)) {
    if (c.kind === 'ratio') summary.push(`${c.met ? 'met   ' : 'MISSED'} ${c.scenario} ${VARIANTS[c.ours].label} ${fmtRatio(c.ratio)} ${VARIANTS[c.vs].label} (target ≥${c.min}x)`);
    else summary.push(`${c.met ? 'met   ' : 'MISSED'} ${c.scenario} ${VARIANTS[c.ours].label}: ${c.writes} store writes in ${c.requests} requests${c.entries === undefined ? '' : `, ${c.entries} records in the store`} (target 0)`);
  }
  for (const n of sections.http.notes) out.push(`note: ${n}`);
  for (const p of sections.http.problems) failures.push(`http: ${p}`);
}
if (sections.memory) {
  const m = sections.memory;
  summary.push(`${m.met.bytes ? 'met   ' : 'MISSED'} memory store ${m.websession.perSession.toFixed(0)} B/session beyond data over ${m.sessions} sessions (target ≤${m.targetBytes} B; express-session's MemoryStore ${m.expressSession.perSession.toFixed(0)} B)`);
  summary.push(`${m.met.sweep ? 'met   ' : 'MISSED'} sweep of ${m.sessions} expired entries: loop delay p99 ${m.sweep.p99Ms.toFixed(1)} ms (target <${m.targetP99Ms} ms)`);
}
if (sections.bundle) {
  const b = sections.bundle;
  const t = b.rows[0];
  summary.push(`${b.met ? 'met   ' : 'MISSED'} bundle ${(t.gzip / 1024).toFixed(2)} KB gzip, ${t.nodeImports.length || t.nodeInText ? 'imports node:' : 'no node:'} (target ≤5 KB, no node:)`);
  for (const n of b.notes) out.push(`note: ${n}`);
}
out.push('');
out.push('Targets:');
out.push(...summary.map((l) => `  ${l}`));
out.push('');
out.push(`load average at end: ${machine().loadavgNow}; total ${((Date.now() - started) / 1000).toFixed(0)} s`);
console.log(out.join('\n'));

const file = value('--out');
if (file) {
  const header = [`command: \`${command}\``, `code: ${revision}`, `machine: ${info.nproc} cores, ${info.cpu}, Node ${info.node}; ${pinning.reason}; load average ${info.loadavgStart} at start, ${machine().loadavgNow} at end`, ''];
  writeFileSync(file, `${header.join('\n')}\n${out.join('\n')}\n`);
}
if (failures.length > 0) {
  console.log('\nFAILED TO RUN:');
  for (const f of failures) console.log(`  ${f}`);
  process.exit(1);
}
process.exit(0);

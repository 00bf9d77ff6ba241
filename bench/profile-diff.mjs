// Where one server spends more time per request than another: profiles both under the same
// load with bench/profile.mjs, then prints self time in µs per request, by kind of code and by
// function, sorted by the difference. For finding out what a session middleware costs beyond a
// reference (the floor, or bare Express) over real HTTP, which an in-process harness may not see.
// The profiler adds its own overhead to small JavaScript functions, so the absolute figures run
// high; the differences are the point.
//
//   node bench/profile-diff.mjs <variant A> <variant B> [scenario=S2] [--duration 8] [--top 30] [--kind K]
//   e.g. node bench/profile-diff.mjs express-floor express-websession S2
//   --kind lists only the functions of one kind of code (a row of the first table, e.g. "Node and V8").
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { table } from './lib/common.mjs';
import { selfTimeByFunction } from './lib/cpu-profile.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const [a, b, scenario = 'S2'] = args.filter((x, i) => !x.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!a || !b) {
  console.error('usage: node bench/profile-diff.mjs <variant A> <variant B> [scenario] [--duration 8] [--top 30]');
  process.exit(2);
}
const duration = opt('--duration', 8);
const top = opt('--top', 30);
const onlyKind = args.includes('--kind') ? args[args.indexOf('--kind') + 1] : undefined;

/** Runs bench/profile.mjs for one variant; returns self time per function in µs per request. */
function profileOf(variant) {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'profile.mjs');
  const out = spawnSync(process.execPath, [script, variant, scenario, '--duration', String(duration), '--top', '1', '--keep'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`profile.mjs ${variant} ${scenario} failed:\n${out.stderr}`);
  const file = /^profile: (.+)$/m.exec(out.stdout)?.[1];
  const requests = Number(/^requests profiled: (\d+)$/m.exec(out.stdout)?.[1]);
  if (!file || !requests) throw new Error(`profile.mjs ${variant}: no profile or request count in its output:\n${out.stdout}`);
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  rmSync(dirname(file), { recursive: true, force: true });
  const perRequest = new Map();
  for (const [key, t] of selfTimeByFunction(profile)) perRequest.set(key, t / requests);
  return perRequest;
}

/** What kind of code a function is, by where it lives. */
function kind(key) {
  if (/ (bench\/\.dist-snapshot-\d+|dist)\/(src|adapters)\//.test(key)) return 'websession';
  if (key.includes('node_modules/cookie/')) return 'cookie package';
  if (key.includes('bench/servers/')) return 'bench server (routes, floor)';
  if (key.includes('node_modules/')) return 'framework and its dependencies';
  if (key.startsWith('(garbage collector)')) return 'garbage collector';
  if (key.startsWith('writev') || key.startsWith('writevGeneric') || key.startsWith('writeBuffer') || key.startsWith('writeUtf8String')) return 'socket writes';
  if (key.startsWith('(idle)')) return 'idle';
  return 'Node and V8';
}

const A = profileOf(a);
const B = profileOf(b);
const us = (x) => x.toFixed(2);
const kinds = new Map();
for (const [m, col] of [
  [A, 0],
  [B, 1],
]) {
  for (const [k, t] of m) {
    const row = kinds.get(kind(k)) ?? [0, 0];
    row[col] += t;
    kinds.set(kind(k), row);
  }
}
const busy = (m) => [...m].filter(([k]) => kind(k) !== 'idle').reduce((s, [, t]) => s + t, 0);
console.log(`${scenario}: self time per request under --cpu-prof (µs), A = ${a}, B = ${b}; busy total A ${us(busy(A))}, B ${us(busy(B))}\n`);
console.log(table(['kind of code', 'A', 'B', 'B - A'], [...kinds].sort((x, y) => y[1][1] - y[1][0] - (x[1][1] - x[1][0])).map(([k, [x, y]]) => [k, us(x), us(y), us(y - x)])));
const keys = new Set([...A.keys(), ...B.keys()]);
const rows = [...keys]
  .filter((k) => onlyKind === undefined || kind(k) === onlyKind)
  .map((k) => [k, A.get(k) ?? 0, B.get(k) ?? 0])
  .sort((x, y) => y[2] - y[1] - (x[2] - x[1]));
console.log(`\n${onlyKind ? `${onlyKind}: ` : ''}functions, largest difference first (top ${top})`);
console.log(table(['B - A', 'A', 'B', 'function'], rows.slice(0, top).map(([k, x, y]) => [us(y - x), us(x), us(y), k])));

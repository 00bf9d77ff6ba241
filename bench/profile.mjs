// Where a server spends its time under load: runs one bench server with `node --cpu-prof`,
// drives it with autocannon like bench/http.mjs does, and prints the functions with the most
// self time, plus the inclusive time of websession's own functions.
//
//   node bench/profile.mjs <variant> <scenario> [--duration 5] [--top 25] [--keep]
//   e.g. node bench/profile.mjs express-websession S2
// bench/profile-diff.mjs compares two variants' profiles per request.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VARIANTS, load, loginCookies, probe, startServer } from './http.mjs';
import { pinSelfToClientCore, table } from './lib/common.mjs';
import { functionName as name, selfTimeByFunction } from './lib/cpu-profile.mjs';

const [variant, scenario = 'S2'] = process.argv.slice(2).filter((a) => !a.startsWith('--') && !/^\d+$/.test(a));
const opt = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
if (!VARIANTS[variant]) {
  console.error(`usage: node bench/profile.mjs <${Object.keys(VARIANTS).join('|')}> <S1|S2|S3|S4|S4R> [--duration 5] [--top 25]`);
  process.exit(2);
}
const duration = opt('--duration', 5);
const top = opt('--top', 25);

pinSelfToClientCore();
const dir = mkdtempSync(join(tmpdir(), 'websession-prof-'));
const server = await startServer(variant, scenario, { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] });
const cookies = ['S2', 'S3'].includes(scenario) ? await loginCookies(server, 8) : undefined;
await probe(server, scenario, cookies ?? []);
const warm = await load(server.port, { duration: 1, connections: 10, cookies });
const r = await load(server.port, { duration, connections: 10, cookies });
await server.stop();
await new Promise((resolve) => setTimeout(resolve, 300));
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error(`no profile written in ${dir}`);
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
else console.log(`profile: ${join(dir, file)}`);

// Self time per function; inclusive time per function (counted once per stack, so recursion does
// not double count).
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfBy = selfTimeByFunction(profile);
const total = [...selfBy.values()].reduce((a, b) => a + b, 0);
const self = new Map();
for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
const inclBy = new Map();
for (const [id, t] of self) {
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const key = name(byId.get(cur));
    if (seen.has(key)) continue;
    seen.add(key);
    inclBy.set(key, (inclBy.get(key) ?? 0) + t);
  }
}
const pct = (t) => `${((100 * t) / total).toFixed(1)}%`;
console.log(`${VARIANTS[variant].label} ${scenario}: ${Math.round(r.rps)} req/s under --cpu-prof, ${(total / 1e6).toFixed(1)} s sampled`);
// Every request the profile covers (warm-up and probes included), for per-request figures (bench/profile-diff.mjs).
console.log(`requests profiled: ${warm.requests + r.requests + (cookies?.length ?? 0) + 1}`);
console.log('\nself time');
console.log(table(['self', 'function'], [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, t]) => [pct(t), k])));
console.log('\ninclusive time, websession (dist/) functions');
console.log(table(['incl', 'function'], [...inclBy].filter(([k]) => k.includes('dist/')).sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, t]) => [pct(t), k])));
process.exit(0);

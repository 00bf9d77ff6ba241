// Instructions per request by function, JavaScript included, from the files that
// `bench/instructions.mjs --keep DIR` leaves: for each run, callgrind's per-function counts, and
// V8's perf map (`--perf-basic-prof`, written when --keep is given), which names the addresses
// that callgrind shows as `???:0x...` for code V8 compiled. Like instructions.mjs, the cost of
// one request is the difference between the run with 3N requests and the run with N, over 2N.
//
//   node bench/instructions-by-function.mjs DIR VARIANT SCENARIO [OTHER_VARIANT] [--top 40] [--js]
//
// With OTHER_VARIANT, both are listed side by side with the difference, largest first (for
// example `hono-floor hono-websession`). `--js` lists only JavaScript. Functions are merged
// across V8's tiers (interpreter, baseline, optimised); an address no map names stays an address.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfCounts } from './instructions.mjs';
import { fmtInt, isMain, table } from './lib/common.mjs';

/** The perf map of one run: sorted code ranges and their names. */
function readPerfMap(file) {
  if (!existsSync(file)) return [];
  const ranges = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) ranges.push({ start: Number.parseInt(m[1], 16), end: Number.parseInt(m[1], 16) + Number.parseInt(m[2], 16), name: m[3] });
  }
  // Later entries win where code was freed and its space reused.
  return ranges.map((r, i) => ({ ...r, i })).sort((a, b) => a.start - b.start || b.i - a.i);
}

/** The name of the code at `address`, or undefined. */
function lookup(ranges, address) {
  let lo = 0;
  let hi = ranges.length - 1;
  let found;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid].start <= address) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  for (let i = found; i !== undefined && i >= 0 && i > found - 8; i--) if (address < ranges[i].end) return ranges[i].name;
  return undefined;
}

/** `JS:*foo file:///x/y.js:1:2` and `LazyCompile:~foo ...` become one name per function. */
function jsName(name) {
  return name.replace(/^(JS|LazyCompile|Function|Script):[*~^+-]?/, 'JS ').replace(/file:\/\/\/\S*?\/((?:dist|\.dist-[^/]+|node_modules)\/)/, '$1');
}

/** Self instructions per function in one callgrind file, JIT addresses named through its perf map. */
export function functionCounts(outFile) {
  const ranges = readPerfMap(`${outFile}.map`);
  const counts = new Map();
  for (let [name, count] of selfCounts(outFile)) {
    const address = /^\?\?\?:0x([0-9a-f]+)/.exec(name);
    if (address) name = jsNameOr(lookup(ranges, Number.parseInt(address[1], 16)), name);
    else name = name.replace(/^\?\?\?:/, '').replace(/ \[[^\]]*\]$/, '');
    counts.set(name, (counts.get(name) ?? 0) + count);
  }
  return counts;
}

function jsNameOr(mapped, raw) {
  return mapped === undefined ? `(unnamed code) ${raw.slice(4, 24)}` : jsName(mapped);
}

/** Per-request self instructions per function of `variant` in `scenario`, from the kept files in `dir`. */
export function perRequestByFunction(dir, variant, scenario) {
  const files = readdirSync(dir).filter((f) => f.startsWith(`${variant}-${scenario}-`) && f.endsWith('.out'));
  const runs = new Map();
  for (const f of files) {
    const m = /-(\d+)(-\d+)?\.out$/.exec(f);
    if (m) (runs.get(m[2] ?? '') ?? runs.set(m[2] ?? '', []).get(m[2] ?? '')).push({ n: Number(m[1]), file: join(dir, f) });
  }
  const pairs = [...runs.values()].filter((r) => r.length === 2).map((r) => r.sort((a, b) => a.n - b.n));
  if (pairs.length === 0) throw new Error(`no pair of ${variant}-${scenario}-N and -3N files in ${dir}`);
  const total = new Map();
  for (const [small, large] of pairs) {
    const a = functionCounts(small.file);
    const b = functionCounts(large.file);
    const per = large.n - small.n;
    for (const name of new Set([...a.keys(), ...b.keys()])) total.set(name, (total.get(name) ?? 0) + ((b.get(name) ?? 0) - (a.get(name) ?? 0)) / per / pairs.length);
  }
  return total;
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = (name) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args.splice(i, name === '--js' ? 1 : 2)[1] ?? true;
  };
  const top = Number(flag('--top') ?? 40);
  const onlyJs = flag('--js') !== undefined;
  const [dir, variant, scenario, other] = args;
  if (!dir || !variant || !scenario) {
    console.error('usage: node bench/instructions-by-function.mjs DIR VARIANT SCENARIO [OTHER_VARIANT] [--top 40] [--js]');
    process.exit(2);
  }
  const a = perRequestByFunction(dir, variant, scenario);
  const b = other ? perRequestByFunction(dir, other, scenario) : undefined;
  const keep = (name) => !onlyJs || name.startsWith('JS ');
  const names = [...new Set([...a.keys(), ...(b?.keys() ?? [])])].filter(keep);
  const size = (name) => Math.abs(b ? (b.get(name) ?? 0) - (a.get(name) ?? 0) : (a.get(name) ?? 0));
  names.sort((x, y) => size(y) - size(x));
  const sum = (m) => [...m.entries()].filter(([n]) => keep(n)).reduce((s, [, v]) => s + v, 0);
  const rows = names.slice(0, top).map((n) => (b ? [fmtInt(a.get(n) ?? 0), fmtInt(b.get(n) ?? 0), fmtInt((b.get(n) ?? 0) - (a.get(n) ?? 0)), n.slice(0, 140)] : [fmtInt(a.get(n) ?? 0), n.slice(0, 140)]));
  rows.unshift(b ? [fmtInt(sum(a)), fmtInt(sum(b)), fmtInt(sum(b) - sum(a)), onlyJs ? '(all JavaScript)' : '(everything)'] : [fmtInt(sum(a)), onlyJs ? '(all JavaScript)' : '(everything)']);
  console.log(`self instructions per request, ${scenario}, from ${dir}`);
  console.log(table(b ? [variant, other, 'difference', 'function'] : [variant, 'function'], rows));
}

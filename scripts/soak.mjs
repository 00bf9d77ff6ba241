#!/usr/bin/env node
// Long soak of the memory store (security reference §5.3 SK1), not run in CI:
//
//   npx tsc -p tsconfig.build.json && npm run soak -- --minutes 10
//
// Churn through one engine on the built package (dist/): new sessions at a steady rate (default
// 500/s), idle timeout 2 s, absolute timeout 10 s, 30% browser-session cookies, a quarter of the
// visitors coming back once; the store sweeps every 500 ms. Every second: the entry count and,
// after a forced full GC, heapUsed. Passes when
//   - the entry count plateaus: every sample after warm-up within rate x idle x 0.85 and
//     rate x (idle + sweep) x 1.15 (sessions live idle ms, plus up to one sweep interval);
//   - the heap slope after warm-up (least squares over the per-second samples) is under
//     --max-slope MB per 10 minutes (default 1, SK1's target; the CI test allows 1 MB/minute);
//   - after traffic stops, the store is empty within idle + sweep + 1 s;
//   - the event loop never stalled more than 50 ms (p99 of monitorEventLoopDelay) while sweeping.
// Exit code 0 on pass, 1 on fail; prints a line per 10 s and a summary.
//
// Options: --minutes N (10), --rate N (500), --idle MS (2000), --absolute MS (10000),
// --sweep MS (500), --warmup S (30), --max-slope MB (1).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { built, options } from './lib.mjs';

const args = options(['minutes', 'rate', 'idle', 'absolute', 'sweep', 'warmup', 'max-slope']);
const MINUTES = Number(args.minutes ?? 10);
const RATE = Number(args.rate ?? 500);
const IDLE = Number(args.idle ?? 2_000);
const ABSOLUTE = Number(args.absolute ?? 10_000);
const SWEEP = Number(args.sweep ?? 500);
const WARMUP_S = Number(args.warmup ?? 30);
const MAX_SLOPE = Number(args['max-slope'] ?? 1);

const { createMemoryStore, createSessionEngine } = await built('src/index.js');

let gc = globalThis.gc;
if (typeof gc !== 'function') {
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc');
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes) => bytes / 1024 / 1024;

const store = createMemoryStore({ sweepInterval: SWEEP });
const secret = 'soak secret, long enough to be a real one';
const browser = createSessionEngine({ secret, store, idleTimeout: IDLE, absoluteTimeout: ABSOLUTE });
const persistent = createSessionEngine({ secret, store, idleTimeout: IDLE, absoluteTimeout: ABSOLUTE, cookie: { maxAge: 3_600_000 } });

async function visit(engine, cookie) {
  const s = engine.load({ cookie, secure: true });
  await s.set('n', ((await s.get('n')) ?? 0) + 1);
  await s.set('payload', { cart: ['book', 'pen'], at: Date.now() });
  return (await engine.commit(s)).setCookie[0]?.split(';', 1)[0];
}

gc();
const baseline = process.memoryUsage().heapUsed;
const delay = monitorEventLoopDelay({ resolution: 10 });
let running = true;
let created = 0;
let returned = 0;
const returning = [];
const driver = (async () => {
  let next = performance.now();
  const perTick = RATE / 100;
  let carry = 0;
  while (running) {
    const now = Date.now();
    const batch = [];
    carry += perTick;
    for (; carry >= 1; carry--) {
      const index = created++;
      const engine = index % 10 < 3 ? browser : persistent;
      batch.push(visit(engine).then((cookie) => void (cookie && index % 4 === 0 && returning.push({ cookie, engine, at: now + 500 + Math.random() * 1_000 }))));
    }
    for (let i = 0; i < returning.length; i++) {
      if (returning[i].at > now) continue;
      const r = returning.splice(i--, 1)[0];
      returned++;
      batch.push(visit(r.engine, r.cookie));
    }
    await Promise.all(batch);
    next += 10;
    await sleep(Math.max(0, next - performance.now()));
  }
})();

const samples = [];
const t0 = performance.now();
const seconds = Math.round(MINUTES * 60);
console.log(`soak: ${MINUTES} min, ${RATE} new sessions/s, idle ${IDLE} ms, absolute ${ABSOLUTE} ms, sweep ${SWEEP} ms; baseline heap ${mb(baseline).toFixed(2)} MB`);
delay.enable();
for (let s = 1; s <= seconds; s++) {
  await sleep(t0 + s * 1_000 - performance.now());
  gc();
  const heap = process.memoryUsage().heapUsed;
  if (s > WARMUP_S) samples.push({ minute: (performance.now() - t0) / 60_000, heap: mb(heap), entries: store.length });
  if (s % 10 === 0) console.log(`${String(s).padStart(5)} s  entries ${String(store.length).padStart(6)}  heap ${mb(heap).toFixed(2)} MB  created ${created}  returned ${returned}  loop p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms`);
}
running = false;
await driver;
delay.disable();
const stoppedAt = performance.now();
while (store.length > 0 && performance.now() - stoppedAt < IDLE + SWEEP + 1_000) await sleep(50);
const drainMs = performance.now() - stoppedAt;
const left = store.length;
store.close();
gc();
const after = process.memoryUsage().heapUsed;

const n = samples.length;
const mx = samples.reduce((a, p) => a + p.minute, 0) / n;
const my = samples.reduce((a, p) => a + p.heap, 0) / n;
let num = 0;
let den = 0;
for (const p of samples) {
  num += (p.minute - mx) * (p.heap - my);
  den += (p.minute - mx) ** 2;
}
const slopePer10 = (num / den) * 10;
const low = ((RATE * IDLE) / 1000) * 0.85;
const high = ((RATE * (IDLE + SWEEP)) / 1000) * 1.15;
const entries = samples.map((p) => p.entries);
const p99 = delay.percentile(99) / 1e6;
const checks = [
  [`entries plateau in [${low.toFixed(0)}, ${high.toFixed(0)}]: ${Math.min(...entries)}..${Math.max(...entries)}`, entries.every((e) => e >= low && e <= high)],
  [`heap slope after warm-up ${slopePer10.toFixed(3)} MB per 10 min < ${MAX_SLOPE}`, slopePer10 < MAX_SLOPE],
  [`store empty ${drainMs.toFixed(0)} ms after traffic stopped (limit ${IDLE + SWEEP + 1_000}): ${left} left`, left === 0],
  [`event-loop delay p99 ${p99.toFixed(1)} ms < 50`, p99 < 50],
];
console.log(`\ncreated ${created} sessions (${returned} returned); heap ${mb(baseline).toFixed(2)} MB before, ${mb(after).toFixed(2)} MB after (the engines' signers keep up to 2 x 4096 memoised values)`);
for (const [label, ok] of checks) console.log(`${ok ? 'PASS' : 'FAIL'}  ${label}`);
process.exit(checks.every(([, ok]) => ok) ? 0 : 1);

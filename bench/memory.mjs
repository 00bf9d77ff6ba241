// Memory store footprint and sweep latency.
//
//   node --expose-gc bench/memory.mjs [--sessions 1000000] [--smoke] [--json]
//
// 1. Bytes per session beyond the serialised data: forced GC, heapUsed before; N sessions written
//    through the store API (records as the engine writes them, 43-character IDs); forced GC,
//    heapUsed after; (delta - total JSON length of the records) / N. What remains is the store's
//    own cost: the ID string, the Map slot, the entry object, string headers, the expiry number.
//    express-session's MemoryStore is measured the same way for the same sessions.
// 2. A sweep of N expired entries while `perf_hooks.monitorEventLoopDelay` watches the loop:
//    p99 and max delay, and how long the sweep took.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { JSON_MARK, fmtInt, isMain, sleep, table, websession } from './lib/common.mjs';

const { createMemoryStore, createSessionEngine, generateSessionId } = await websession('src/index.js');
const require = createRequire(import.meta.url);
const session = require('express-session');

const TARGET_BYTES = 200;
const TARGET_P99_MS = 20;

function gc() {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
  for (let i = 0; i < 4; i++) globalThis.gc();
}

function heap() {
  gc();
  return process.memoryUsage().heapUsed;
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** 32 random bytes as 43 base64url characters in one flat string (String.fromCharCode of all codes). */
function flatId() {
  const b = crypto.getRandomValues(new Uint8Array(32));
  const c = new Array(43);
  let j = 0;
  for (let i = 0; i < 30; i += 3) {
    const v = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    c[j++] = B64URL.charCodeAt(v >> 18);
    c[j++] = B64URL.charCodeAt((v >> 12) & 63);
    c[j++] = B64URL.charCodeAt((v >> 6) & 63);
    c[j++] = B64URL.charCodeAt(v & 63);
  }
  const v = (b[30] << 8) | b[31];
  c[j++] = B64URL.charCodeAt(v >> 10);
  c[j++] = B64URL.charCodeAt((v >> 4) & 63);
  c[j++] = B64URL.charCodeAt((v << 2) & 63);
  return String.fromCharCode.apply(null, c);
}

/** A record as the engine stores it, from the engine itself (so the shape follows src/). */
async function engineRecordTemplate() {
  const store = createMemoryStore({ sweepInterval: 0 });
  const engine = createSessionEngine({ secret: 'x'.repeat(32), store, resave: false, saveUninitialized: false });
  const s = engine.load({ cookie: undefined });
  await s.set('user', 'alice');
  await s.set('views', 1);
  await engine.commit(s);
  const record = await store.get(s.id);
  store.close();
  return record;
}

export async function runMemory({ sessions = 1_000_000, smoke = false } = {}) {
  const n = smoke ? 20_000 : sessions;
  const template = await engineRecordTemplate();
  const now = Date.now();
  const makeRecord = (i) => ({ ...template, user: `user${i}`, _ws: { ...template._ws, c: now, a: now } });
  const { _ws, ...expressTemplate } = template;
  const makeExpressRecord = (i) => ({ ...expressTemplate, user: `user${i}` });
  const out = { sessions: n, record: JSON.stringify(makeRecord(0)), targetBytes: TARGET_BYTES, targetP99Ms: TARGET_P99_MS };

  // 1a. websession's memory store.
  {
    const store = createMemoryStore({ maxEntries: Math.max(n, 1_000_000), sweepInterval: 0 });
    const before = heap();
    let json = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const record = makeRecord(i);
      json += JSON.stringify(record).length;
      await store.set(generateSessionId(), record, 3_600_000);
    }
    const writeMs = performance.now() - t0;
    const after = heap();
    if (store.length !== n) throw new Error(`memory store holds ${store.length}, expected ${n}`);
    out.websession = { heapDelta: after - before, json, perSession: (after - before - json) / n, perSessionTotal: (after - before) / n, writeMs };
    store.clear();
    store.close();
  }

  // 1a'. What-if, not in src/: the same store with its JSON strings flattened and flat IDs. V8
  // returns JSON.stringify output longer than ~32 characters as a tree of string parts (ConsStrings),
  // and generateSessionId's final .replace() returns a slice that keeps its 44-character parent alive.
  if (!smoke) {
    const store = createMemoryStore({ maxEntries: Math.max(n, 1_000_000), sweepInterval: 0 });
    const stringify = JSON.stringify;
    const before = heap();
    let json = 0;
    JSON.stringify = function flatStringify(...args) {
      const text = stringify.apply(JSON, args);
      Number(text); // V8 flattens a string to convert it to a number
      return text;
    };
    try {
      for (let i = 0; i < n; i++) {
        const record = makeRecord(i);
        json += stringify(record).length;
        await store.set(flatId(), record, 3_600_000);
      }
    } finally {
      JSON.stringify = stringify;
    }
    const after = heap();
    out.whatIf = { heapDelta: after - before, json, perSession: (after - before - json) / n };
    store.clear();
    store.close();
  }

  // 1b. express-session's MemoryStore, the same sessions (its records have no engine metadata).
  {
    const store = new session.MemoryStore();
    const before = heap();
    let json = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const record = makeExpressRecord(i);
      json += JSON.stringify(record).length;
      store.set(generateSessionId(), record);
    }
    const writeMs = performance.now() - t0;
    const after = heap();
    out.expressSession = { heapDelta: after - before, json, perSession: (after - before - json) / n, perSessionTotal: (after - before) / n, writeMs };
    store.clear();
  }

  // 2. Sweep N expired entries; watch the event loop meanwhile.
  {
    const store = createMemoryStore({ maxEntries: Math.max(n, 1_000_000), sweepInterval: 0 });
    for (let i = 0; i < n; i++) await store.set(generateSessionId(), makeRecord(i), 1);
    await sleep(20); // every entry is now expired
    const held = heap();
    // The same measurement with nothing to do, for comparison: on a shared machine the loop is
    // delayed by other processes too.
    const idle = monitorEventLoopDelay({ resolution: 1 });
    idle.enable();
    await sleep(smoke ? 100 : 1000);
    idle.disable();
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const t0 = performance.now();
    const removed = await store.sweep();
    const sweepMs = performance.now() - t0;
    histogram.disable();
    const reclaimed = held - heap();
    if (removed !== n || store.length !== 0) throw new Error(`sweep removed ${removed} of ${n}; ${store.length} left`);
    out.sweep = {
      removed,
      sweepMs,
      p50Ms: histogram.percentile(50) / 1e6,
      p99Ms: histogram.percentile(99) / 1e6,
      maxMs: histogram.max / 1e6,
      samples: histogram.count,
      idleP99Ms: idle.percentile(99) / 1e6,
      idleMaxMs: idle.max / 1e6,
      reclaimedBytes: reclaimed,
    };
    store.close();
  }
  // 3. Writes at the bound: a flood of new sessions into a full store, each write evicting the
  // oldest entry (a fresh Map iterator per eviction used to make this 10-30x slower than filling).
  {
    const bound = Math.max(1_000, Math.floor(n / 10));
    const store = createMemoryStore({ maxEntries: bound, sweepInterval: 0 });
    const timeWrites = async (count) => {
      const t0 = performance.now();
      for (let i = 0; i < count; i++) await store.set(generateSessionId(), makeRecord(i), 3_600_000);
      return ((performance.now() - t0) * 1000) / count;
    };
    const fillingUs = await timeWrites(bound);
    const atBoundUs = await timeWrites(2 * bound);
    if (store.length !== bound) throw new Error(`bounded store holds ${store.length}, expected ${bound}`);
    out.bound = { maxEntries: bound, writes: 2 * bound, fillingUs, atBoundUs };
    store.close();
  }
  out.met = { bytes: out.websession.perSession <= TARGET_BYTES, sweep: out.sweep.p99Ms < TARGET_P99_MS };
  return out;
}

export function memoryRows(m) {
  const n = fmtInt(m.sessions);
  return [
    ['memory', `websession memory store, ${n} sessions`, `${m.websession.perSession.toFixed(0)} B/session beyond data`, '', '', '', `${(m.websession.heapDelta / 2 ** 20).toFixed(0)} MiB heap, data ${(m.websession.json / m.sessions).toFixed(0)} B/session`, `≤${m.targetBytes} B`, m.met.bytes ? 'met' : `MISSED (+${(m.websession.perSession - m.targetBytes).toFixed(0)} B)`],
    ...(m.whatIf ? [['memory', `what-if (not in src/): same store, flattened JSON + flat IDs`, `${m.whatIf.perSession.toFixed(0)} B/session beyond data`, '', '', '', `${(m.whatIf.heapDelta / 2 ** 20).toFixed(0)} MiB heap`, `≤${m.targetBytes} B`, m.whatIf.perSession <= m.targetBytes ? 'would meet' : 'would still miss']] : []),
    ['memory', `express-session MemoryStore, ${n} sessions`, `${m.expressSession.perSession.toFixed(0)} B/session beyond data`, '', '', '', `${(m.expressSession.heapDelta / 2 ** 20).toFixed(0)} MiB heap, data ${(m.expressSession.json / m.sessions).toFixed(0)} B/session`, '', ''],
    ['memory', `new sessions into a full store (maxEntries ${fmtInt(m.bound.maxEntries)})`, `${m.bound.atBoundUs.toFixed(2)} µs/write at the bound`, '', '', '', `${fmtInt(m.bound.writes)} writes, each evicting the oldest; ${m.bound.fillingUs.toFixed(2)} µs/write while filling`, '', ''],
    ['memory', `sweep of ${n} expired entries`, `loop delay p99 ${m.sweep.p99Ms.toFixed(1)} ms`, '', `max ${m.sweep.maxMs.toFixed(1)} ms`, '', `sweep took ${fmtInt(m.sweep.sweepMs)} ms; idle loop, same machine: p99 ${m.sweep.idleP99Ms.toFixed(1)} ms, max ${m.sweep.idleMaxMs.toFixed(1)} ms`, `p99 <${m.targetP99Ms} ms`, m.met.sweep ? 'met' : `MISSED (+${(m.sweep.p99Ms - m.targetP99Ms).toFixed(1)} ms)`],
  ];
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  const s = args.indexOf('--sessions');
  const m = await runMemory({ smoke: args.includes('--smoke'), sessions: s >= 0 ? Number(args[s + 1]) : undefined });
  if (args.includes('--json')) console.log(JSON_MARK + JSON.stringify(m));
  else {
    console.log(`record: ${m.record}`);
    console.log(table(['bench', 'what', 'result', '', 'max', '', 'detail', 'target', 'status'], memoryRows(m)));
  }
}

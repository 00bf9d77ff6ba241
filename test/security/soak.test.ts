/**
 * Soak, short version (security reference §5.3 SK1, cut to about 15 s so it runs in `npm test`;
 * the long run is `npm run soak`, scripts/soak.mjs, not in CI).
 *
 * Churn on the memory store through the engine: new sessions at a steady rate (a third of them
 * browser-session cookies, a quarter of visitors coming back once), idle timeout 2 s, absolute
 * timeout 10 s, sweep every 500 ms. Checks:
 * - the number of entries plateaus near rate x idle (bounded by rate x (idle + sweep interval));
 * - the heap does not grow after warm-up: the least-squares slope of heapUsed (sampled after a
 *   forced full GC) stays under 1 MB per minute. A full GC is forced with
 *   v8.setFlagsFromString('--expose-gc') on Node and Deno. If no GC can be forced, the slope of
 *   unforced samples is noisy (garbage not yet collected), and a generous bound of 20 MB/min is
 *   used instead; so on Bun, whose Bun.gc(true) is conservative (see below). Deno is held to
 *   2 MB/min (see below). The test prints which bound applied. The engine is rebuilt every 200 sessions
 *   (same store): each engine's signer keeps bounded memos (4,096 signed and 4,096 verified
 *   values, dropped wholesale when full), a sawtooth of about 2 MB that, in a 10-second window,
 *   reads as several MB per minute of "growth". The memory store under test is shared by all
 *   of them; `npm run soak` runs one engine for minutes, where the sawtooth averages out;
 * - after traffic stops, every session is swept: store.length === 0 within idle + sweep
 *   interval (plus scheduling slack).
 * Without the burst below, a short window on Node and Deno sees 0.3-0.8 MB/min of V8 warming up
 * (code, feedback, allocation sites: measured per heap space, it stops after about 30 s at
 * 400/s), which flattens to about 0.04 MB/min over minutes. The memory store's Map also resizes
 * by some 50 KB up and down as the live count wanders; that is noise, not growth.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createMemoryStore, createSessionEngine, type Session } from '../../src/index.ts';
import { runtime, sleep } from './helpers.ts';

const RATE = 400; // new sessions per second
const IDLE = 2_000;
const SWEEP = 500;
const BURST = 2_500;
const WARMUP = 6_000;
const MEASURE = Number(process.env.SOAK_MEASURE_MS ?? 8_500);

/** A full-GC function for this runtime, or undefined. */
function forcedGc(): ((() => void) & { how: string }) | undefined {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun?.gc) return Object.assign(() => bun.gc(true), { how: 'Bun.gc(true)' });
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return Object.assign(() => g(), { how: 'global.gc' });
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    if (typeof fn === 'function') return Object.assign(() => (fn as () => void)(), { how: "v8.setFlagsFromString('--expose-gc')" });
  } catch {
    // not available on this runtime
  }
  return undefined;
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((sum, [x]) => sum + x, 0) / n;
  const my = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}

describe('soak (short)', () => {
  it('memory store churn: entries plateau near rate x idle, the heap stays flat after warm-up, everything is swept once traffic stops', async () => {
    const store = createMemoryStore({ sweepInterval: SWEEP });
    const build = (maxAge?: number) => createSessionEngine({ secret: 'soak secret, long enough to be a real one', store, idleTimeout: IDLE, absoluteTimeout: 10_000, cookie: maxAge ? { maxAge } : {} });
    let engine = build();
    let persistent = build(5_000);
    const gc = forcedGc();
    let running = true;
    let created = 0;
    // Returning visitors come back through whichever engine is current (same secret), so a
    // retired engine and its memos are garbage as soon as its requests are done.
    const returning: Array<{ cookie: string; at: number; persistent: boolean }> = [];
    const visit = async (e: typeof engine, cookie?: string): Promise<string | undefined> => {
      const s: Session = e.load({ cookie, secure: true });
      await s.set('n', ((await s.get('n')) as number | undefined ?? 0) + 1);
      await s.set('payload', { cart: ['book', 'pen'], at: Date.now() });
      const result = await e.commit(s);
      return result.setCookie[0]?.split(';', 1)[0];
    };
    // A steady generator: every 10 ms, RATE/100 new visitors, and the returning ones that are due.
    const tick = async (burst: boolean): Promise<void> => {
      const now = Date.now();
      const batch: Array<Promise<unknown>> = [];
      for (let i = 0; i < (burst ? 5 : 1) * (RATE / 100); i++) {
        const index = created++;
        if (index % 200 === 0) {
          engine = build();
          persistent = build(5_000);
        }
        const kind = index % 3 !== 0; // a third browser-session cookies
        // A quarter come back once, 0.5 to 1.5 s later.
        batch.push(visit(kind ? persistent : engine).then((cookie) => void (cookie && index % 4 === 0 && returning.push({ cookie, at: now + 500 + Math.random() * 1_000, persistent: kind }))));
      }
      for (let i = 0; i < returning.length; i++) {
        if (returning[i]!.at > now) continue;
        const r = returning.splice(i--, 1)[0]!;
        batch.push(visit(r.persistent ? persistent : engine, r.cookie));
      }
      await Promise.all(batch);
    };
    // The first BURST ms run at five times the rate: V8's warm-up (code, feedback, allocation
    // sites; about 200 KB in all) goes by operations, and at the steady rate alone it would take
    // half a minute, far past this test's window. The measurement starts after WARMUP.
    const driver = (async () => {
      let next = performance.now();
      const start = next;
      while (running) {
        await tick(performance.now() - start < BURST);
        next += 10;
        await sleep(Math.max(0, next - performance.now()));
      }
    })();

    const counts: number[] = [];
    const heap: Array<[number, number]> = [];
    const t0 = performance.now();
    try {
      while (performance.now() - t0 < WARMUP + MEASURE) {
        await sleep(500);
        const t = performance.now() - t0;
        if (t < WARMUP) continue;
        counts.push(store.length);
        // Twice: a first full GC can leave objects that only its finalisation steps free.
        gc?.();
        gc?.();
        heap.push([t / 60_000, process.memoryUsage().heapUsed / 1024 / 1024]);
        if (process.env.SOAK_TRACE) console.info(`soak sample ${t.toFixed(0)} ms: ${heap.at(-1)![1].toFixed(3)} MB, ${store.length} entries`);
      }
    } finally {
      running = false;
      await driver;
    }
    const stoppedAt = performance.now();
    // Drained: every session idles out and the sweep removes it.
    while (store.length > 0 && performance.now() - stoppedAt < IDLE + SWEEP + 2_000) await sleep(100);
    const drainMs = performance.now() - stoppedAt;
    const length = store.length;
    store.close();

    const mbPerMinute = slope(heap);
    // JavaScriptCore (Bun) collects conservatively: after Bun.gc(true) its heapUsed still drifts up
    // by a megabyte or two over ten seconds, then drops (over 40 s the slope comes out negative).
    // A ten-second window cannot hold it to 1 MB/min, so Bun gets the generous bound as well.
    // Deno: the same churn outside vitest grows about 0.4 MB/min for minutes (about 15 bytes per
    // session) where Node flattens to 0.04; not in its timers, importKey or HMAC on their own, and
    // not found yet (an open item in the report). Deno is held to 2 MB/min until it is.
    const exact = gc !== undefined && runtime !== 'bun';
    const bound = !exact ? 20 : runtime === 'deno' ? 2 : 1;
    console.info(
      `soak: ${created} sessions created; entries ${Math.min(...counts)}..${Math.max(...counts)} (rate x idle = ${(RATE * IDLE) / 1000}); heap slope ${mbPerMinute.toFixed(3)} MB/min ` +
        `(bound ${bound}, GC ${gc ? gc.how : 'not forceable: unforced samples'}${gc && !exact ? ', conservative collector: generous bound' : ''}; ${runtime}); drained in ${drainMs.toFixed(0)} ms`,
    );
    expect(created).toBeGreaterThan(RATE * ((WARMUP + MEASURE) / 1000) * 0.5);
    for (const c of counts) {
      expect(c).toBeGreaterThan(((RATE * IDLE) / 1000) * 0.6);
      expect(c).toBeLessThan(((RATE * (IDLE + SWEEP)) / 1000) * 1.6);
    }
    expect(mbPerMinute).toBeLessThan(bound);
    expect(length).toBe(0);
    expect(drainMs).toBeLessThan(IDLE + SWEEP + 2_000);
  }, 40_000 + MEASURE);
});

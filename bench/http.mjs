// HTTP benchmarks: every variant of bench/servers/ over real HTTP on loopback, driven by
// autocannon (programmatic API) from this process. Interleaved rounds: each round measures every
// variant of a scenario once, in a rotated order, so noise from the (shared) machine spreads over
// all of them; results are medians over rounds, and ratios are medians of the per-round ratios.
//
//   node bench/http.mjs [--rounds 10] [--duration 0.75] [--warmup 1] [--connections 10]
//                       [--scenarios S1,S2,S3,S4] [--groups express,hono,node(,fetch)] [--smoke] [--json]
//
// Import the built package (dist/): run `npx tsc -p tsconfig.build.json` first (npm run bench does).
import autocannon from 'autocannon';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { BENCH_DIR, DIST, JSON_MARK, ROOT, fmtInt, fmtRatio, isMain, machine, median, pinSelfToClientCore, pinning, sleep, spawnNode, table } from './lib/common.mjs';

export const VARIANTS = {
  'express-bare': { group: 'express', label: 'bare Express', role: 'bare' },
  'express-session': { group: 'express', label: 'express-session', role: 'peer' },
  'express-websession': { group: 'express', label: 'websession/express', role: 'ours' },
  // S2 only: the cheapest possible session read (bench/servers/_floor.mjs), for scale.
  'express-floor': { group: 'express', label: 'floor: unsigned Map session', role: 'floor' },
  'hono-bare': { group: 'hono', label: 'bare Hono', role: 'bare' },
  'hono-sessions': { group: 'hono', label: 'hono-sessions', role: 'peer' },
  'hono-session': { group: 'hono', label: '@hono/session', role: 'peer' },
  'hono-websession': { group: 'hono', label: 'websession/hono', role: 'ours' },
  'hono-floor': { group: 'hono', label: 'floor: unsigned Map session', role: 'floor' },
  'node-bare': { group: 'node', label: 'bare node:http', role: 'bare' },
  'node-websession': { group: 'node', label: 'websession/node', role: 'ours' },
  // Not in the issue's comparison, so only with `--groups fetch`: a fetch handler (Workers, Deno,
  // Bun style) served on Node by @hono/node-server, bare and wrapped by websession/fetch.
  'fetch-bare': { group: 'fetch', label: 'bare fetch handler', role: 'bare' },
  'fetch-websession': { group: 'fetch', label: 'websession/fetch', role: 'ours' },
};

export const SCENARIO_TEXT = {
  S1: 'no cookie, route never touches the session',
  S2: 'returning visitor, route reads the session',
  S3: 'returning visitor, route writes the session',
  S4: 'new visitor per request, route creates a session',
  S4R: 'new visitor per request, route reads but does not write (saveUninitialized: false)',
  S5R: 'S2 on Redis',
  S5W: 'S3 on Redis',
};

/** The targets of the issue, as ratios of req/s measured in the same run. */
export const TARGETS = [
  { ours: 'express-websession', vs: 'express-session', scenarios: ['S2', 'S3', 'S4'], min: 1.5 },
  { ours: 'express-websession', vs: 'express-bare', scenarios: ['S2'], min: 0.85 },
  { ours: 'hono-websession', vs: 'hono-sessions', scenarios: ['S2', 'S3'], min: 3 },
  { ours: 'hono-websession', vs: 'hono-session', scenarios: ['S2', 'S3'], min: 3 },
  { ours: 'hono-websession', vs: 'hono-bare', scenarios: ['S2'], min: 0.85 },
  { ours: 'express-websession', vs: 'express-bare', scenarios: ['S1'], min: 0.97 },
  { ours: 'hono-websession', vs: 'hono-bare', scenarios: ['S1'], min: 0.97 },
  { ours: 'node-websession', vs: 'node-bare', scenarios: ['S1'], min: 0.97 },
];

const COOKIE_POOL = 64;
/** Scenarios whose visitors return with a session cookie (logged in during warm-up). */
export const RETURNING = ['S2', 'S3', 'S5R', 'S5W'];
/** Load generator CPU (fraction of its core) from which a result is marked † (client-bound). */
export const CLIENT_BOUND = 0.8;

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/** Starts `bench/servers/<variant>.mjs <scenario>` (pinned to the server core) and waits for its port. */
export function startServer(variant, scenario, { timeoutMs = 20_000, nodeArgs = [], launch, stopGraceMs = 2000 } = {}) {
  const file = join(BENCH_DIR, 'servers', `${variant}.mjs`);
  // `launch(file, scenario)` starts the server another way (bench/instructions.mjs: under valgrind).
  const child = launch ? launch(file, scenario) : spawnNode(file, [scenario], { nodeArgs, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${variant} ${scenario}: no port within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    const onData = (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      child.stdout.off('data', onData);
      child.stdout.resume();
      clearTimeout(timer);
      try {
        const { port } = JSON.parse(out.slice(0, nl));
        resolve({
          variant,
          scenario,
          port,
          child,
          stderr: () => stderr,
          stats: () => requestStats(child),
          stop: () => stopChild(child, stopGraceMs),
        });
      } catch (error) {
        reject(new Error(`${variant} ${scenario}: bad start line ${out.slice(0, nl)}: ${error.message}\n${stderr}`));
      }
    };
    child.stdout.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${variant} ${scenario}: exited with ${code} before listening\n${stderr}`));
    });
  });
}

function requestStats(child) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no stats reply')), 5000);
    const onMessage = (m) => {
      if (m?.type !== 'stats') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.send({ type: 'stats' });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
function stopChild(child, graceMs) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------------

function get(port, path, cookie) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: cookie ? { cookie } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
  });
}

const firstCookie = (headers) => {
  const set = headers['set-cookie'];
  return set && set.length > 0 ? set[0].split(';', 1)[0] : undefined;
};

/** Logs in `n` times (one session each) and returns the `name=value` cookies; bare servers get look-alikes. */
export async function loginCookies(server, n) {
  if (VARIANTS[server.variant].role === 'bare') {
    // Same length and shape as a signed websession cookie, so the request bytes match.
    return Array.from({ length: n }, (_, i) => `sid=s%3A${'x'.repeat(43)}.${'y'.repeat(38)}${String(i).padStart(5, '0')}`);
  }
  const cookies = [];
  for (let i = 0; i < n; i++) {
    const res = await get(server.port, '/login');
    const cookie = firstCookie(res.headers);
    if (res.status !== 200 || !cookie) throw new Error(`${server.variant}: /login gave ${res.status} without a session cookie`);
    cookies.push(cookie);
  }
  return cookies;
}

/** Checks that the route does what the scenario says before it is measured. */
export async function probe(server, scenario, cookies) {
  const { variant } = server;
  const bare = VARIANTS[variant].role === 'bare';
  const route = scenario === 'S5R' ? 'S2' : scenario === 'S5W' ? 'S3' : scenario;
  const res = await get(server.port, '/', route === 'S2' || route === 'S3' ? cookies[0] : undefined);
  const fail = (why) => {
    throw new Error(`${variant} ${scenario}: probe failed: ${why} (status ${res.status}, body ${JSON.stringify(res.body.slice(0, 80))})\n${server.stderr()}`);
  };
  if (res.status !== 200) fail('status is not 200');
  if (route === 'S1' && res.body !== 'ok') fail('expected "ok"');
  if (route === 'S2' && res.body !== 'hi alice') fail('expected "hi alice": the session was not read');
  if (route === 'S3' && !/^\d+$/.test(res.body)) fail('expected a number');
  if (route === 'S3' && !bare) {
    const again = await get(server.port, '/', cookies[0]);
    if (Number(again.body) !== Number(res.body) + 1) fail(`the write did not persist (next read gave ${again.body})`);
  }
  if (route === 'S4' && !bare && !firstCookie(res.headers)) fail('a created session must send its cookie');
  if (route === 'S4R' && res.body !== 'hi guest') fail('expected "hi guest"');
}

/** One autocannon run; rotating over the cookie pool (pre-built requests, so no per-request cost). */
// autocannon checks for the end on its sampling tick (1 s by default): a 100 ms tick lets runs
// end on time, and `amount` (a request count) gives the smoke run its short rounds.
export async function load(port, { duration, amount, connections, cookies }) {
  const toRequest = (cookie) => ({ method: 'GET', path: '/', headers: { cookie } });
  const requests = cookies ? cookies.map(toRequest) : [{ method: 'GET', path: '/' }];
  // Each connection is its own set of visitors (cookie i goes to connection i % connections), as
  // with browsers: a visitor's requests follow one another, two connections never share a session.
  let nextClient = 0;
  const setupClient = cookies
    ? (client) => {
        const k = nextClient++ % connections;
        const own = cookies.filter((_, i) => i % connections === k);
        client.setRequests((own.length > 0 ? own : cookies).map(toRequest));
      }
    : undefined;
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const length = amount ? { amount } : { duration };
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections, pipelining: 1, ...length, sampleInt: 100, timeout: 10, requests, ...(setupClient ? { setupClient } : {}) });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  return {
    rps: result.requests.total / seconds,
    // This process is the load generator: near 100% of its core means the client, not the server, set the pace.
    clientCpu: (used.user + used.system) / 1e6 / seconds,
    requests: result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--smoke') opts.smoke = true;
    else if (a === '--json') opts.json = true;
    else if (a === '--rounds') opts.rounds = Number(next());
    else if (a === '--duration') opts.duration = Number(next());
    else if (a === '--warmup') opts.warmup = Number(next());
    else if (a === '--connections') opts.connections = Number(next());
    else if (a === '--scenarios') opts.scenarios = next().toUpperCase().split(',');
    else if (a === '--groups') opts.groups = next().split(',');
  }
  return opts;
}

export function redisAvailable() {
  if (!process.env.REDIS_URL) return { ok: false, note: 'S5 skipped: REDIS_URL is not set' };
  if (!existsSync(join(DIST, 'src/stores/redis.js'))) return { ok: false, note: 'S5 skipped: no Redis store in dist/ (src/stores/redis.ts not present or not built)' };
  return { ok: true, note: `S5 on ${process.env.REDIS_URL}` };
}

/**
 * Runs the HTTP benchmarks; returns { results, writes, notes, settings }.
 * results[scenario][variant] = { rounds: [{rps,p50,p99,...}], rps, p99, spread, writesPerReq }
 */
export async function runHttp(options = {}) {
  const smoke = options.smoke === true;
  // Many short rounds: the machine's noise comes in bursts of seconds, and the median of many
  // paired ratios rejects them better than a few long runs.
  const rounds = options.rounds ?? (smoke ? 1 : 10);
  const duration = options.duration ?? 0.75;
  const warmup = options.warmup ?? (smoke ? 0 : 1);
  // The smoke run measures a fixed number of requests instead of seconds (it only has to run).
  const amount = options.amount ?? (smoke ? 300 : undefined);
  const connections = options.connections ?? 10;
  const groups = options.groups ?? ['express', 'hono', 'node'];
  const log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  const redis = redisAvailable();
  const notes = [];
  let scenarios = options.scenarios ?? ['S1', 'S2', 'S3', 'S4', 'S4R', 'S5R', 'S5W'];
  if (!redis.ok) {
    if (scenarios.some((s) => s.startsWith('S5'))) notes.push(redis.note);
    scenarios = scenarios.filter((s) => !s.startsWith('S5'));
  }
  const variantsFor = (scenario) =>
    Object.keys(VARIANTS).filter((v) => {
      const { group, role } = VARIANTS[v];
      if (!groups.includes(group)) return false;
      if (role === 'floor') return scenario === 'S2';
      // The Hono libraries have no Redis store in common with the others; S4R is a store-write check.
      if (scenario.startsWith('S5')) return v !== 'hono-sessions' && v !== 'hono-session';
      if (scenario === 'S4R') return role !== 'bare';
      return true;
    });

  const results = {};
  const problems = [];
  for (const scenario of scenarios) {
    const variants = variantsFor(scenario);
    log(`[http] ${scenario} (${SCENARIO_TEXT[scenario]}): starting ${variants.length} servers`);
    const servers = {};
    try {
      const t0 = Date.now();
      const started = await Promise.all(variants.map((v) => startServer(v, scenario)));
      for (const s of started) servers[s.variant] = s;
      log(`[http] ${scenario}: servers listening after ${Date.now() - t0} ms`);
      const cookies = {};
      const needCookies = RETURNING.includes(scenario);
      for (const v of variants) {
        cookies[v] = needCookies ? await loginCookies(servers[v], COOKIE_POOL) : undefined;
        await probe(servers[v], scenario, cookies[v] ?? []);
      }
      const before = {};
      for (const v of variants) before[v] = (await servers[v].stats()).counts;
      results[scenario] = {};
      if (scenario === 'S4R') {
        // A store-write count, not a throughput race: a fixed short load on each, then count.
        for (const v of variants) {
          const r = await load(servers[v].port, { duration: 1, amount, connections });
          const stats = await servers[v].stats();
          const after = stats.counts;
          const sets = after.set - before[v].set;
          const touches = after.touch - before[v].touch;
          // entries: records the memory store holds (websession reports it), a check independent of the count.
          results[scenario][v] = { rounds: [r], rps: r.rps, p99: r.p99, cpuPerReq: undefined, spread: 0, requests: r.requests + 1, sets, touches, entries: stats.entries, writesPerReq: (sets + touches) / (r.requests + 1) };
          if (r.non2xx > 0 || r.errors > 0) problems.push(`${v} ${scenario}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        }
        continue;
      }
      if (warmup > 0) for (const v of variants) await load(servers[v].port, { duration: warmup, connections, cookies: cookies[v] });
      const statsStart = {};
      for (const v of variants) statsStart[v] = (await servers[v].stats()).counts;
      const per = Object.fromEntries(variants.map((v) => [v, []]));
      for (let round = 0; round < rounds; round++) {
        // Groups stay contiguous (a variant and the ones it is compared with run within seconds
        // of each other); both the group order and the order inside each group rotate per round.
        const groupsHere = [...new Set(variants.map((v) => VARIANTS[v].group))];
        const order = groupsHere
          .map((_, i) => groupsHere[(i + round) % groupsHere.length])
          .flatMap((g) => {
            const members = variants.filter((v) => VARIANTS[v].group === g);
            return members.map((_, i) => members[(i + round) % members.length]);
          });
        for (const v of order) {
          const cpuBefore = (await servers[v].stats()).cpuMicros;
          const r = await load(servers[v].port, { duration, amount, connections, cookies: cookies[v] });
          const cpuAfter = (await servers[v].stats()).cpuMicros;
          // Server CPU time per request: unlike req/s, it does not depend on whether the client or
          // the server set the pace, and CPU stolen by other processes does not count.
          per[v].push({ ...r, round, cpuPerReq: (cpuAfter - cpuBefore) / Math.max(1, r.requests) });
          if (r.non2xx > 0 || r.errors > 0) problems.push(`${v} ${scenario} round ${round + 1}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        }
        log(`[http] ${scenario} round ${round + 1}/${rounds}: ${order.map((v) => `${VARIANTS[v].label} ${fmtInt(per[v].at(-1).rps)}`).join(', ')}`);
      }
      for (const v of variants) {
        const after = (await servers[v].stats()).counts;
        const total = per[v].reduce((n, r) => n + r.requests, 0);
        const sets = after.set - statsStart[v].set;
        const touches = after.touch - statsStart[v].touch;
        const rpsList = per[v].map((r) => r.rps);
        const rps = median(rpsList);
        results[scenario][v] = {
          rounds: per[v],
          rps,
          clientCpu: median(per[v].map((r) => r.clientCpu)),
          cpuPerReq: median(per[v].map((r) => r.cpuPerReq)),
          p99: median(per[v].map((r) => r.p99)),
          spread: rpsList.length > 1 ? (Math.max(...rpsList) - Math.min(...rpsList)) / 2 / rps : 0,
          requests: total,
          sets,
          touches,
          writesPerReq: VARIANTS[v].role === 'bare' || VARIANTS[v].role === 'floor' ? undefined : (sets + touches) / total,
        };
      }
    } finally {
      await Promise.all(Object.values(servers).map((s) => s.stop()));
    }
  }
  return { results, problems, notes, settings: { rounds, duration: amount ? `${amount} requests` : `${duration} s`, warmup, connections, cookies: COOKIE_POOL, pinning: pinning.reason, smoke } };
}

/** Median over rounds of ours/vs measured in the same round. */
export function pairedRatio(results, scenario, ours, vs) {
  const a = results[scenario]?.[ours];
  const b = results[scenario]?.[vs];
  if (!a || !b) return NaN;
  const ratios = a.rounds.map((r) => {
    const other = b.rounds.find((x) => x.round === r.round);
    return other ? r.rps / other.rps : NaN;
  });
  return median(ratios);
}

/** Every target check: { scenario, ours, vs, min, ratio, met }. Plus the S4R zero-write checks. */
export function evaluate(http) {
  const checks = [];
  for (const t of TARGETS) {
    for (const scenario of t.scenarios) {
      if (!http.results[scenario]?.[t.ours] || !http.results[scenario]?.[t.vs]) continue;
      const ratio = pairedRatio(http.results, scenario, t.ours, t.vs);
      checks.push({ kind: 'ratio', scenario, ours: t.ours, vs: t.vs, min: t.min, ratio, met: ratio >= t.min });
    }
  }
  for (const [v, r] of Object.entries(http.results.S4R ?? {})) {
    if (VARIANTS[v].role !== 'ours') continue;
    checks.push({ kind: 'writes', scenario: 'S4R', ours: v, writes: r.sets + r.touches, entries: r.entries, requests: r.requests, met: r.sets + r.touches === 0 && !(r.entries > 0) });
  }
  return checks;
}

/** Rows for the one table: [bench, variant, result, spread, p99, writes/req, ratio, target, status]. */
export function httpRows(http) {
  const checks = evaluate(http);
  const rows = [];
  for (const [scenario, byVariant] of Object.entries(http.results)) {
    for (const [v, r] of Object.entries(byVariant)) {
      const { label, role, group } = VARIANTS[v];
      const bare = Object.keys(byVariant).find((x) => VARIANTS[x].group === group && VARIANTS[x].role === 'bare');
      const mine = checks.filter((c) => c.ours === v && c.scenario === scenario);
      let ratio = '';
      let target = '';
      let status = '';
      if (scenario === 'S4R') {
        ratio = '';
        target = role === 'ours' ? '0 store writes' : '';
        status = role === 'ours' ? (mine[0]?.met ? 'met' : 'MISSED') : '';
      } else if (role !== 'bare') {
        const parts = [];
        if (bare && scenario !== 'S4R') parts.push(`${fmtRatio(pairedRatio(http.results, scenario, v, bare))} bare`);
        if (role === 'ours') {
          for (const p of Object.keys(byVariant).filter((x) => VARIANTS[x].group === group && VARIANTS[x].role === 'peer')) {
            parts.push(`${fmtRatio(pairedRatio(http.results, scenario, v, p))} ${VARIANTS[p].label}`);
          }
          const floor = Object.keys(byVariant).find((x) => VARIANTS[x].group === group && VARIANTS[x].role === 'floor');
          if (floor) parts.push(`${fmtRatio(pairedRatio(http.results, scenario, v, floor))} floor`);
        }
        ratio = parts.join(', ');
        target = mine.map((c) => `≥${c.min}x ${c.vs.endsWith('bare') ? 'bare' : VARIANTS[c.vs].label}`).join(', ');
        status = mine.length === 0 ? '' : mine.every((c) => c.met) ? 'met' : `MISSED (${mine.filter((c) => !c.met).map((c) => `${fmtRatio(c.ratio)} vs ≥${c.min}x`).join('; ')})`;
      }
      const held = r.entries === undefined ? '' : `, store holds ${fmtInt(r.entries)}`;
      const writes = r.writesPerReq === undefined ? '' : scenario === 'S4R' ? `${r.sets + r.touches} in ${fmtInt(r.requests)} req${held}` : r.writesPerReq.toFixed(2);
      rows.push([
        scenario,
        label,
        scenario === 'S4R' ? `${fmtInt(r.rps)} req/s (1 run)` : `${fmtInt(r.rps)} req/s${r.clientCpu >= CLIENT_BOUND ? ' †' : ''}`,
        scenario === 'S4R' ? '' : `±${(r.spread * 100).toFixed(0)}%`,
        `${r.p99} ms`,
        r.cpuPerReq === undefined ? '' : `${r.cpuPerReq.toFixed(0)} µs`,
        writes,
        ratio,
        target,
        status,
      ]);
    }
  }
  return rows;
}

export const HEADER = ['bench', 'variant', 'result (median)', 'spread', 'p99', 'server CPU/req', 'store writes', 'ratio (same run)', 'target', 'status'];

if (isMain(import.meta.url)) {
  const opts = parseArgs(process.argv.slice(2));
  pinSelfToClientCore();
  const http = await runHttp(opts);
  if (opts.json) console.log(JSON_MARK + JSON.stringify(http));
  else {
    console.log(`machine: ${JSON.stringify(machine())}`);
    console.log(table(HEADER, httpRows(http)));
    for (const n of http.notes) console.log(`note: ${n}`);
    for (const p of http.problems) console.log(`problem: ${p}`);
  }
  process.exit(http.problems.length > 0 ? 1 : 0);
}

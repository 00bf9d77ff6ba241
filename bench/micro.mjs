// Micro benchmarks on one core: the engine's load + commit for a returning visitor, with the
// HMAC verify done by Web Crypto (memo miss), by node:crypto through the `hmac` option (what the
// Express and node adapters use; memo miss) and served by the verify memo (memo hit), side by
// side with the signature primitives, including express-session's cookie-signature `unsign`.
//
//   node bench/micro.mjs [--time 1000] [--smoke] [--json]    (pins itself to core 0 when it can)
//
// Each case runs for a fixed time after a warm-up, awaited one at a time ("sequential"), and for
// the async cases also 32 at a time ("batch of 32": what a busy server sees).
import { createHmac, timingSafeEqual, webcrypto } from 'node:crypto';
import { createRequire } from 'node:module';
import { JSON_MARK, fmtInt, isMain, pinning, table, websession } from './lib/common.mjs';
import { execFileSync } from 'node:child_process';

const { createMemoryStore, createSessionEngine, createSigner } = await websession('src/index.js');
const { nodeHmac: nodeCryptoHmac } = await websession('adapters/node.js');
const require = createRequire(import.meta.url);
// express-session's own copy of cookie-signature, the one its middleware calls.
const signature = require(require.resolve('cookie-signature', { paths: [require.resolve('express-session')] }));

const SECRET = '6b6579626f617264206361742c206b6579626f617264206361742c206b657962';
// The verify memos (the signer's and the cookie verifier's) hold this many values, then are emptied.
const { MEMO_LIMIT } = await websession('src/signing.js');
const MISS_CYCLE = MEMO_LIMIT + 904; // cycling over more distinct cookies than the memo holds: every verify misses

async function timeSequential(fn, ms) {
  const warm = performance.now() + Math.min(300, ms / 3);
  while (performance.now() < warm) for (let i = 0; i < 50; i++) await fn();
  let ops = 0;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) await fn();
    ops += 50;
  }
  return (ops * 1000) / (performance.now() - start);
}

async function timeBatch(fn, ms, width = 32) {
  const batch = () => {
    const all = new Array(width);
    for (let i = 0; i < width; i++) all[i] = fn();
    return Promise.all(all);
  };
  const warm = performance.now() + Math.min(300, ms / 3);
  while (performance.now() < warm) await batch();
  let ops = 0;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) {
    await batch();
    ops += width;
  }
  return (ops * 1000) / (performance.now() - start);
}

function timeSync(fn, ms) {
  const warm = performance.now() + Math.min(300, ms / 3);
  while (performance.now() < warm) for (let i = 0; i < 200; i++) fn();
  let ops = 0;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 200; i++) fn();
    ops += 200;
  }
  return (ops * 1000) / (performance.now() - start);
}

export async function runMicro({ time = 1000, smoke = false } = {}) {
  const ms = smoke ? 150 : time;
  const store = createMemoryStore({ maxEntries: 100_000, sweepInterval: 0 });
  const engine = createSessionEngine({ secret: SECRET, store, resave: false, saveUninitialized: false });
  // The same store and secret, signing and verifying with node:crypto (the Node adapters' default).
  const nodeEngine = createSessionEngine({ secret: SECRET, store, resave: false, saveUninitialized: false, hmac: nodeCryptoHmac });
  const name = engine.options.name;

  // Returning visitors: sessions created through the engine itself, cookies as the browser sends them.
  const sessions = MISS_CYCLE;
  const cookies = [];
  for (let i = 0; i < sessions; i++) {
    const s = engine.load({ cookie: undefined });
    await s.set('user', 'alice');
    const result = await engine.commit(s);
    cookies.push(result.setCookie[0].split(';', 1)[0]);
  }
  const signedValues = cookies.map((c) => decodeURIComponent(c.slice(name.length + 1)).slice(2)); // id.mac

  let i = 0;
  const nextMiss = () => cookies[(i = (i + 1) % cookies.length)];
  const hitCookies = cookies.slice(0, 8);
  let h = 0;
  const nextHit = () => hitCookies[(h = (h + 1) & 7)];

  const loadCommit = (cookie, eng = engine) => async () => {
    const s = eng.load({ cookie: cookie() });
    const user = await s.get('user');
    if (user !== 'alice') throw new Error('session not loaded');
    await eng.commit(s);
  };
  const loadOnly = (cookie) => async () => {
    const s = engine.load({ cookie: cookie() });
    if ((await s.get('user')) !== 'alice') throw new Error('session not loaded');
  };

  // Primitives on the same input (a 43-char ID and its MAC).
  const signer = createSigner([SECRET]);
  let j = 0;
  const nextSigned = () => signedValues[(j = (j + 1) % signedValues.length)];
  const key = await webcrypto.subtle.importKey('raw', new TextEncoder().encode(SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const b64 = (text) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  const parsed = signedValues.map((v) => {
    const dot = v.lastIndexOf('.');
    return { data: new TextEncoder().encode(v.slice(0, dot)), mac: b64(v.slice(dot + 1)), value: v.slice(0, dot), macText: v.slice(dot + 1) };
  });
  let k = 0;
  const nextParsed = () => parsed[(k = (k + 1) % parsed.length)];
  const subtleVerify = async () => {
    const p = nextParsed();
    if (!(await webcrypto.subtle.verify('HMAC', key, p.mac, p.data))) throw new Error('verify failed');
  };
  const nodeHmac = () => {
    const p = nextParsed();
    const mac = createHmac('sha256', SECRET).update(p.value).digest();
    if (!timingSafeEqual(mac, p.mac)) throw new Error('verify failed');
  };
  const cookieSignatureUnsign = () => {
    const v = nextSigned();
    if (signature.unsign(v, SECRET) === false) throw new Error('unsign failed');
  };

  // Make sure the miss path really misses and the hit path really hits.
  const rows = [];
  const add = (what, path, seq, batch, note = '') => rows.push({ what, path, seq, batch, note });

  add('engine load + commit, returning visitor', 'Web Crypto verify (memo miss)', await timeSequential(loadCommit(nextMiss), ms), await timeBatch(loadCommit(nextMiss), ms), `cycling ${fmtInt(cookies.length)} sessions > memo size ${MEMO_LIMIT}`);
  add('engine load + commit, returning visitor', 'node:crypto verify, hmac option (memo miss)', await timeSequential(loadCommit(nextMiss, nodeEngine), ms), await timeBatch(loadCommit(nextMiss, nodeEngine), ms), 'the Express and node adapters');
  add('engine load + commit, returning visitor', 'verify memo (hit)', await timeSequential(loadCommit(nextHit), ms), await timeBatch(loadCommit(nextHit), ms), '8 sessions');
  add('engine load only (verify + store get)', 'Web Crypto verify (memo miss)', await timeSequential(loadOnly(nextMiss), ms), await timeBatch(loadOnly(nextMiss), ms));
  add('engine load only (verify + store get)', 'verify memo (hit)', await timeSequential(loadOnly(nextHit), ms), await timeBatch(loadOnly(nextHit), ms));
  add('signer.unsign (src/signing.ts)', 'Web Crypto verify (memo miss)', await timeSequential(() => signer.unsign(nextSigned()), ms), await timeBatch(() => signer.unsign(nextSigned()), ms));
  const nodeSigner = createSigner([SECRET], nodeCryptoHmac);
  add('signer.unsign (src/signing.ts)', 'node:crypto, hmac option (memo miss)', await timeSequential(() => nodeSigner.unsign(nextSigned()), ms), await timeBatch(() => nodeSigner.unsign(nextSigned()), ms));
  const hitValues = signedValues.slice(0, 8);
  let m = 0;
  add('signer.unsign (src/signing.ts)', 'verify memo (hit)', await timeSequential(() => signer.unsign(hitValues[(m = (m + 1) & 7)]), ms), await timeBatch(() => signer.unsign(hitValues[(m = (m + 1) & 7)]), ms));
  add('crypto.subtle.verify HMAC-SHA256 alone', 'Web Crypto', await timeSequential(subtleVerify, ms), await timeBatch(subtleVerify, ms));
  add('node:crypto createHmac + timingSafeEqual', 'node:crypto (sync)', timeSync(nodeHmac, ms), undefined, 'the primitive behind the hmac option');
  add('cookie-signature unsign (express-session)', 'node:crypto (sync)', timeSync(cookieSignatureUnsign, ms), undefined, 'HMAC + SHA-1 compare');
  store.close();
  return { rows, settings: { ms, sessions: cookies.length } };
}

export function microRows(micro) {
  return micro.rows.map((r) => [
    'micro',
    `${r.what}: ${r.path}${r.note ? ` (${r.note})` : ''}`,
    `${fmtInt(r.seq)} ops/s`,
    '',
    '',
    '',
    r.batch === undefined ? 'sync call' : `batch of 32: ${fmtInt(r.batch)} ops/s`,
    '',
    '',
  ]);
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const smoke = args.includes('--smoke');
  const t = args.indexOf('--time');
  // Standalone: run on the server core, like the orchestrator does.
  if (pinning.enabled && !process.env.BENCH_CHILD) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', pinning.serverCore, String(process.pid)], { stdio: 'ignore' });
    } catch {
      // not pinned
    }
  }
  const micro = await runMicro({ smoke, time: t >= 0 ? Number(args[t + 1]) : undefined });
  if (json) console.log(JSON_MARK + JSON.stringify(micro));
  else
    console.log(
      table(
        ['case', 'path', 'sequential ops/s', 'batch of 32 ops/s', 'note'],
        micro.rows.map((r) => [r.what, r.path, fmtInt(r.seq), r.batch === undefined ? 'sync' : fmtInt(r.batch), r.note]),
      ),
    );
}

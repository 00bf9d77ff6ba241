#!/usr/bin/env node
// Timing test of signature verification (security reference B7, dudect-style), not run in CI:
//
//   npx tsc -p tsconfig.build.json && npm run timing -- --samples 100000
//
// Does the time `createSigner(secret).unsign(value)` takes depend on how many leading bytes of
// the MAC are right? Classes: forged MACs whose first 1, 16 or 31 bytes (of 32) equal the real
// MAC, the rest random; each is paired with a control whose first bytes come from a decoy MAC
// (the real one with every byte changed) instead. The pairing matters: inputs that share a long
// prefix with each other are decoded faster (branch prediction in base64 decoding learns them),
// which against a random-MAC baseline reads as a "leak" of up to t = 9 at the median crop, yet it
// depends only on the attacker's own input, not on the secret. Real-vs-decoy isolates the secret.
// Samples of all classes are taken interleaved in random order (so drift hits every class
// alike), each timed with process.hrtime.bigint() around one awaited unsign(), and compared with
// Welch's t-test on the raw samples and, as dudect does, on samples cropped at several upper
// percentiles (the tail is scheduler noise). Verdict: |t| < 4.5 everywhere (dudect's
// threshold). The t values are printed.
//
// Options: --samples N per class (default 20000), --secret S, --hmac node (verify with node:crypto
// through the engine's `hmac` option, as the Express and node adapters do; its comparison is the
// signer's own character-by-character OR of differences).
// Note: verification is one crypto.subtle.verify call (HMAC, then a constant-time compare inside
// the crypto library); the async call costs tens of microseconds, so the harness can see
// differences of roughly (standard deviation x 4.5 / sqrt(samples)); the script prints that
// resolution, so "no leak" is read against it.
import { built, options } from './lib.mjs';

const args = options(['samples', 'secret', 'hmac']);
const SAMPLES = Number(args.samples ?? 20_000);
const SECRET = args.secret ?? 'timing secret: long and random enough for the test';

const { createSigner } = await built('src/index.js');

const signer =
  args.hmac === 'node' ? createSigner([SECRET], (await built('adapters/node.js')).nodeHmac) : createSigner([SECRET]);
console.log(`verifier: ${args.hmac === 'node' ? 'node:crypto HMAC through the hmac option' : 'Web Crypto crypto.subtle.verify'}`);
const id = 'T'.repeat(43);
const signed = await signer.sign(id);
const realMac = Uint8Array.from(atob(signed.slice(-43)), (c) => c.charCodeAt(0));
const toB64 = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/=+$/, '');

// A decoy MAC that differs from the real one in every byte: its prefixes are as alike among
// themselves as the real MAC's prefixes are, but share nothing with the secret.
const decoy = realMac.map((b) => b ^ 0x5a);

/** A forged signed value whose MAC starts with the first `k` bytes of `prefix`, the rest random (byte k never matches the real MAC). */
function forged(k, prefix = realMac) {
  const mac = crypto.getRandomValues(new Uint8Array(32));
  for (let i = 0; i < k; i++) mac[i] = prefix[i];
  if (k < 32 && mac[k] === realMac[k]) mac[k] ^= 0xff;
  return `${id}.${toB64(mac)}`;
}

// Each class is [leading bytes, whose]: the real MAC's prefix, or the decoy's.
const CLASSES = [
  [1, 'real'],
  [1, 'decoy'],
  [16, 'real'],
  [16, 'decoy'],
  [31, 'real'],
  [31, 'decoy'],
];
const order = [];
for (let c = 0; c < CLASSES.length; c++) for (let i = 0; i < SAMPLES; i++) order.push(c);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [order[i], order[j]] = [order[j], order[i]];
}
// Pre-build the inputs (a fresh random tail per sample) so building them is not timed, in the
// measurement order: built class by class, one class's strings would sit in older memory than
// another's, and that alone shows up as a (false) timing difference.
const inputs = CLASSES.map(() => []);
for (const c of order) inputs[c].push(forged(CLASSES[c][0], CLASSES[c][1] === 'real' ? realMac : decoy));

// Warm up the key import and the JIT.
for (let i = 0; i < 2_000; i++) await signer.unsign(forged(i % 32));

const times = CLASSES.map(() => []);
const next = CLASSES.map(() => 0);
const t0 = Date.now();
for (const c of order) {
  const value = inputs[c][next[c]++];
  const start = process.hrtime.bigint();
  const result = await signer.unsign(value);
  const ns = Number(process.hrtime.bigint() - start);
  if (result !== false) throw new Error('a forged MAC verified');
  times[c].push(ns);
}
const seconds = (Date.now() - t0) / 1000;

const stats = (xs) => {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { n, mean, variance };
};
const welch = (a, b) => {
  const x = stats(a);
  const y = stats(b);
  return (x.mean - y.mean) / Math.sqrt(x.variance / x.n + y.variance / y.n);
};
const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const crops = [null, 0.99, 0.9, 0.75, 0.5];

console.log(`timing: ${SAMPLES} samples per class, ${CLASSES.length} classes, ${seconds.toFixed(1)} s, node ${process.version}`);
for (const [c, [k, whose]] of CLASSES.entries()) {
  const s = stats(times[c]);
  console.log(`  ${String(k).padStart(2)} leading bytes of the ${whose.padEnd(5)} MAC: mean ${(s.mean / 1000).toFixed(2)} µs, sd ${(Math.sqrt(s.variance) / 1000).toFixed(2)} µs, median ${(percentile(times[c], 0.5) / 1000).toFixed(2)} µs`);
}
let worst = 0;
console.log('\n  Welch t, real vs decoy prefix of the same length (raw, then cropped at the pooled 99th/90th/75th/50th percentile):');
for (let c = 0; c < CLASSES.length; c += 2) {
  const row = [];
  for (const crop of crops) {
    let a = times[c + 1];
    let b = times[c];
    if (crop !== null) {
      const limit = percentile([...a, ...b], crop);
      a = a.filter((x) => x <= limit);
      b = b.filter((x) => x <= limit);
    }
    const t = welch(a, b);
    worst = Math.max(worst, Math.abs(t));
    row.push(`${crop === null ? 'raw' : `p${Math.round(crop * 100)}`} ${t.toFixed(2).padStart(6)}`);
  }
  console.log(`  ${String(CLASSES[c][0]).padStart(2)} bytes: ${row.join('   ')}`);
}
const all = times.flat();
const median = percentile(all, 0.5);
const pooled = stats(all.filter((x) => x <= median));
console.log(`\n  resolution: at the median crop, a difference of about ${((4.5 * Math.sqrt((2 * pooled.variance) / (SAMPLES / 2))) / 1000).toFixed(3)} µs between classes would reach |t| = 4.5`);
console.log(`${worst < 4.5 ? 'PASS' : 'FAIL'}  max |t| = ${worst.toFixed(2)} (threshold 4.5)`);
process.exit(worst < 4.5 ? 0 : 1);

/**
 * Security reference §3 group B: signature tampering and timing.
 *
 * The wire format is express-session's `s:<id>.<base64(HMAC-SHA256(id, secret))>` (standard
 * base64 without padding, 43 characters), not the reference's `v1.<id>.<mac>` over base64url.
 * The strict grammar is `^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]$` (canonical last character).
 * test/signing.test.ts already checks `unsign()` on these inputs one by one; here each case goes
 * through the engine (no store read, no HMAC where the grammar already fails) and, where it
 * matters, over HTTP.
 */
import { readFileSync } from 'node:fs';
import cookieParser from 'cookie-parser';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import session, { getSession } from '../../adapters/express.ts';
import { createMemoryStore, createSessionEngine, type MemoryStore } from '../../src/index.ts';
import { MAX_CANDIDATES } from '../../src/cookie.ts';
import { committedPair, cookiePair, get, idOfPair, pairOf, SECRET, serveListener, signedValue, startTargets, type Target } from './helpers.ts';

let store: MemoryStore;
let targets: Target[];
let id: string;
/** The raw signed value `s:<id>.<mac>` of a stored session. */
let good: string;

function engine(secret: string | string[] = SECRET) {
  return createSessionEngine({ secret, store, idleTimeout: null, absoluteTimeout: null });
}

beforeAll(async () => {
  store = createMemoryStore({ sweepInterval: 0 });
  targets = await startTargets({ store });
  const s = engine().load({ secure: true });
  await s.set('user', 'alice');
  const pair = await committedPair(engine(), s);
  id = idOfPair(pair);
  good = decodeURIComponent(pair.slice(4));
});
afterAll(async () => {
  await Promise.all(targets.map((t) => t.close()));
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Loads `value` as the sid cookie (URL-encoded as a browser would send it) and reports the outcome and the work done. */
async function attempt(value: string, secret: string | string[] = SECRET) {
  const verify = vi.spyOn(crypto.subtle, 'verify');
  const storeGet = vi.spyOn(store, 'get');
  const s = await engine(secret).load({ cookie: `sid=${encodeURIComponent(value)}`, secure: true }).load();
  const outcome = { loaded: !s.isNew, reason: s.freshReason, user: (await s.get('user')) ?? null, verifies: verify.mock.calls.length, storeReads: storeGet.mock.calls.length };
  verify.mockRestore();
  storeGet.mockRestore();
  return outcome;
}

const REJECTED_EARLY = { loaded: false, reason: 'bad-signature', user: null, verifies: 0, storeReads: 0 };

describe('B. signature tampering and timing', () => {
  it('B1: a MAC one character short or long, an empty MAC and "s:<id>." are rejected before any HMAC work', async () => {
    // A fresh signer per engine: the verify memo cannot answer for it.
    expect(await attempt(good)).toEqual({ loaded: true, reason: undefined, user: 'alice', verifies: 1, storeReads: 1 });
    for (const value of [good.slice(0, -1), `${good}A`, `${good.slice(0, good.lastIndexOf('.') + 1)}`, `s:${id}.`, `s:${id}`, 's:.', 's:']) {
      expect({ value, ...(await attempt(value)) }).toEqual({ value, ...REJECTED_EARLY });
    }
    for (const t of targets) {
      const r = await get(t.url, '/whoami', { headers: { cookie: `sid=${encodeURIComponent(good.slice(0, -1))}` } });
      expect({ label: t.label, status: r.status, isNew: r.json.isNew, setCookie: r.setCookie }).toEqual({ label: t.label, status: 200, isNew: true, setCookie: [] });
    }
  });

  it('B2: "<valid>x", "<valid>." and "<valid>%00" are rejected (cookie-signature #40 accepted trailing junk)', async () => {
    for (const value of [`${good}x`, `${good}.`, `${good}\0`, `${good}%00`, `${good}==`, `${good}.${good.slice(-43)}`]) {
      expect({ value, ...(await attempt(value)) }).toMatchObject({ value, loaded: false, reason: 'bad-signature', storeReads: 0 });
    }
    // "%00" as a browser would send it: the reader decodes it to NUL, which the grammar refuses.
    const r = await get(targets[0]!.url, '/whoami', { headers: { cookie: `sid=${encodeURIComponent(good)}%00` } });
    expect(r.json).toMatchObject({ isNew: true, user: null });
  });

  it('B3: non-canonical encodings (same-bytes last character, "=" padding, base64url alphabet, embedded junk) are rejected before HMAC', async () => {
    const sig = good.slice(-43);
    const head = good.slice(0, -43);
    // The last character carries 2 unused bits: flipping them keeps the bytes (atob agrees) but not the text.
    const last = sig.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const base = alphabet.indexOf(last) & ~3;
    const sameBytes = [0, 1, 2, 3].map((i) => alphabet[base + i]!).filter((c) => c !== last);
    for (const c of sameBytes) {
      const variant = `${sig.slice(0, -1)}${c}`;
      expect(atob(variant)).toBe(atob(sig));
      expect(await attempt(head + variant)).toEqual(REJECTED_EARLY);
    }
    // A signature that contains + or / written in the base64url alphabet instead.
    let urlId = '';
    let urlSig = '';
    for (let i = 0; !/[+/]/.test(urlSig); i++) {
      urlId = `b3-${i}`;
      urlSig = (await signedValue(urlId)).slice(-43);
    }
    await store.set(urlId, { cookie: { originalMaxAge: null, path: '/', httpOnly: true }, user: 'carol' }, 60_000);
    expect(await attempt(`s:${urlId}.${urlSig}`)).toMatchObject({ loaded: true, user: 'carol' });
    expect(await attempt(`s:${urlId}.${urlSig.replace(/\+/g, '-').replace(/\//g, '_')}`)).toEqual(REJECTED_EARLY);
    for (const junk of [`${sig}=`, `${sig.slice(0, 20)}$${sig.slice(21)}`, `${sig.slice(0, 20)} ${sig.slice(21)}`, `${sig.slice(0, 20)}.${sig.slice(21)}`, `${sig.slice(0, 42)}`]) {
      expect(await attempt(head + junk)).toEqual(REJECTED_EARLY);
    }
  });

  it('B4: an ID without a MAC and an unsigned (legacy) value are rejected (the express-session 1.6.0 lesson)', async () => {
    for (const value of [id, `s:${id}`, good.slice(2), `${id}.${good.slice(-43)}`]) {
      expect({ value, ...(await attempt(value)) }).toEqual({ value, ...REJECTED_EARLY });
    }
    // An unsigned ID of a real session does not even cause a store read.
    for (const t of targets) {
      const r = await get(t.url, '/whoami', { headers: { cookie: `sid=${id}` } });
      expect({ label: t.label, isNew: r.json.isNew, user: r.json.user }).toEqual({ label: t.label, isNew: true, user: null });
    }
  });

  it('B5: extra dots and other prefixes ("S:", "t:", "s:s:", "v1.", "v9.") are rejected; the value is everything before the last dot', async () => {
    const mac = good.slice(-43);
    for (const value of [`s:a.b.c.${mac}`, `${good}.${mac}`, `S:${good.slice(2)}`, `t:${good.slice(2)}`, `s:${good}`, `v1.${id}.${mac}`, `v9.${good.slice(2)}`, `s:${id}.${mac.slice(0, 10)}.${mac.slice(10)}`]) {
      expect({ value, ...(await attempt(value)) }).toMatchObject({ value, loaded: false, reason: 'bad-signature', storeReads: 0 });
    }
    // A dotted ID is legal when genid makes one (express-session allows any string) and it is
    // signed as a whole: splitting happens at the last dot only.
    const dotted = 'a.b.c';
    await store.set(dotted, { cookie: { originalMaxAge: null, path: '/', httpOnly: true }, user: 'dot' }, 60_000);
    expect(await attempt(await signedValue(dotted))).toMatchObject({ loaded: true, user: 'dot' });
    expect(await attempt(`s:a.b.${(await signedValue(dotted)).slice(-43)}`)).toMatchObject({ loaded: false });
  });

  it('B6: a value signed with the same secret for another purpose (a cookie-parser signed cookie) is never adopted as a session', async () => {
    // No purpose or name binding in the MAC: the wire format is cookie-signature's, so a value
    // that cookie-parser signed with the same secret verifies. It is still only an ID: it is not
    // in the store, so it loads nothing, is never adopted, and nothing is stored under it.
    // Use a different secret for cookie-parser (docs/security.md).
    const shared = createMemoryStore({ sweepInterval: 0 });
    const app = express();
    app.use(cookieParser(SECRET));
    app.use(session({ secret: SECRET, store: shared, resave: false, saveUninitialized: true }));
    app.get('/theme', (_req, res) => {
      res.cookie('theme', 'dark', { signed: true });
      res.send('ok');
    });
    app.get('/whoami', (req, res) => res.json({ id: req.sessionID, isNew: getSession(req)!.isNew, reason: getSession(req)!.freshReason ?? null }));
    const server = await serveListener(app);
    try {
      const theme = pairOf((await get(server.url, '/theme')).setCookie, 'theme')!;
      const stolen = theme.slice('theme='.length);
      expect(decodeURIComponent(stolen)).toMatch(/^s:dark\./);
      const set = vi.spyOn(shared, 'set');
      const r = await get(server.url, '/whoami', { headers: { cookie: `connect.sid=${stolen}` } });
      expect(r.json).toMatchObject({ isNew: true, reason: 'not-found' });
      expect(r.json.id).not.toBe('dark');
      expect(idOfPair(pairOf(r.setCookie, 'connect.sid')!)).toBe(r.json.id);
      expect(set.mock.calls.map(([key]) => key)).not.toContain('dark');
      expect(await shared.get('dark')).toBeUndefined();
    } finally {
      await server.close();
    }
  });

  it('B7: verification is crypto.subtle.verify on the decoded MAC bytes, never a string comparison (timing: scripts/timing.mjs)', async () => {
    // The dudect-style Welch t-test over many samples is `npm run timing` (not in CI: it needs a
    // quiet machine and minutes of samples). Here: the constant-time primitive is the one used.
    const verify = vi.spyOn(crypto.subtle, 'verify');
    const forged = `${good.slice(0, -43)}${'A'.repeat(42)}A`;
    const s = await engine().load({ cookie: `sid=${encodeURIComponent(forged)}`, secure: true }).load();
    expect(s.freshReason).toBe('bad-signature');
    expect(verify).toHaveBeenCalledTimes(1);
    const [algorithm, , signature, data] = verify.mock.calls[0]!;
    expect(algorithm).toBe('HMAC');
    expect(Array.from(new Uint8Array(signature as ArrayBuffer))).toEqual(Array.from(Uint8Array.from(atob(`${'A'.repeat(43)}`), (c) => c.charCodeAt(0))));
    expect(new TextDecoder().decode(data as Uint8Array)).toBe(id);
    // No MAC is ever compared as a string in the signer.
    const source = readFileSync(new URL('../../src/signing.ts', import.meta.url), 'utf8');
    expect(source).toContain('crypto.subtle.verify(');
    const comparisons = source.split('\n').filter((line) => /[!=]==/.test(line) && /\b(mac|signature|expected|sig)\b/i.test(line.replace(/\/\/.*$/, '')));
    expect(comparisons).toEqual([]);
  });

  it('B8: a 4 KB value is rejected with no store read and at most one HMAC per secret (bounded by the 32 KB header cap)', async () => {
    // The reference wants a length check before any HMAC. IDs have no length limit here, since
    // express-session lets genid return any string; a long value with a well-formed signature
    // therefore costs one HMAC per configured secret over at most MAX_COOKIE_HEADER bytes, and at
    // most MAX_CANDIDATES duplicates are tried: bounded, not O(1). A malformed signature costs none.
    const long = 'x'.repeat(4096);
    expect(await attempt(`s:${long}.${'A'.repeat(43)}`)).toEqual({ loaded: false, reason: 'bad-signature', user: null, verifies: 1, storeReads: 0 });
    expect(await attempt(`s:${long}.${'A'.repeat(43)}`, [SECRET, 'second secret, long enough to be used', 'third secret, long enough as well.'])).toMatchObject({ verifies: 3, storeReads: 0 });
    expect(await attempt(`s:${long}.${'A'.repeat(44)}`)).toEqual(REJECTED_EARLY);
    expect(await attempt(`s:${long}`)).toEqual(REJECTED_EARLY);
    // Inside an otherwise valid header, before the real cookie: bounded, and the real one still wins.
    const verify = vi.spyOn(crypto.subtle, 'verify');
    const header = [...Array.from({ length: 6 }, () => `sid=${encodeURIComponent(`s:${long}.${'A'.repeat(43)}`)}`), `sid=${encodeURIComponent(good)}`].join('; ');
    expect(header.length).toBeLessThan(32 * 1024);
    const s = await engine().load({ cookie: header, secure: true }).load();
    expect(s.isNew).toBe(true);
    expect(verify.mock.calls.length).toBeLessThanOrEqual(MAX_CANDIDATES);
    const t = await engine().load({ cookie: `sid=${encodeURIComponent(good)}; ${header}`, secure: true }).load();
    expect(await t.get('user')).toBe('alice');
  });

  it('B9: a correctly signed ID absent from the store is anonymous; a new session gets a new ID and the old one is never reused', async () => {
    const ghost = 'g'.repeat(43);
    const cookie = await cookiePair('sid', ghost);
    const set = vi.spyOn(store, 'set');
    for (const t of targets) {
      const read = await get(t.url, '/whoami', { headers: { cookie } });
      expect({ label: t.label, isNew: read.json.isNew, reason: read.json.reason, setCookie: read.setCookie }).toEqual({ label: t.label, isNew: true, reason: 'not-found', setCookie: [] });
      const write = await get(t.url, '/write', { headers: { cookie } });
      const issued = idOfPair(pairOf(write.setCookie, 'sid')!);
      expect({ label: t.label, issued: issued === ghost, id: write.json.id === ghost, length: issued.length }).toEqual({ label: t.label, issued: false, id: false, length: 43 });
    }
    expect(set.mock.calls.map(([key]) => key)).not.toContain(ghost);
    expect(await store.get(ghost)).toBeUndefined();
    // express-session's defaults (saveUninitialized: true) store the fresh session, under a new ID.
    const shared = createMemoryStore({ sweepInterval: 0 });
    const app = express();
    app.use(session({ secret: SECRET, store: shared, resave: false, saveUninitialized: true }));
    app.get('/', (req, res) => res.send(req.sessionID));
    const server = await serveListener(app);
    try {
      const r = await get(server.url, '/', { headers: { cookie: await cookiePair('connect.sid', ghost) } });
      expect(r.text).not.toBe(ghost);
      expect(await shared.get(r.text)).toBeDefined();
      expect(await shared.get(ghost)).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});

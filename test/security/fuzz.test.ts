/**
 * Property-based fuzzing (fast-check) of the three places untrusted bytes enter the engine:
 * the Cookie header reader (`readCookieValues`), the signature verifier
 * (`createSigner().unsign`), and the stored-record decoder (the engine loading whatever JSON a
 * store returns). Generators are structure-aware: they build headers from pairs with
 * near-miss names (case, prefixes, percent-encoding, Unicode spaces, NUL), duplicate names,
 * quotes, percent-escapes (valid and broken), raw Unicode and control characters, and pad
 * them to 8 KB; signatures are mutated from real ones; records mix express-session's layout
 * with junk of every JSON type.
 *
 * Properties: never throws, never takes long (a per-run time bound, far above the normal cost),
 * never accepts a forged ID, never changes Object.prototype, never writes a broken Set-Cookie.
 * test/signing.test.ts and test/cookie.test.ts hold example-based and simpler property tests
 * of the same functions; these add the structure and the forgery oracle. The counts below keep
 * this file to a few seconds; the nightly-style long run is `FUZZ_RUNS=100000 npx vitest run
 * test/security/fuzz.test.ts --testTimeout=0`.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore, createSessionEngine, createSigner, type SessionRecord, type Store } from '../../src/index.ts';
import { MAX_CANDIDATES, readCookieValues } from '../../src/cookie.ts';
import { committedPair, cookiePair, SECRET } from './helpers.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 0) || undefined;
const runs = (n: number): number => RUNS ?? n;
const NAME = 'sid';
/**
 * "Never hangs": a per-run bound far above the normal cost (microseconds), so that only a hang or
 * super-linear work can reach it, not a loaded CI machine descheduling the worker for a while.
 */
const PER_RUN_MS = 250;
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const protoNames = Object.getOwnPropertyNames(Object.prototype).sort();

/** Wall time of one call, in ms. */
function timed<T>(run: () => T): [T, number] {
  const t0 = performance.now();
  const out = run();
  return [out, performance.now() - t0];
}

// ---------------------------------------------------------------------------------------------
// Generators

const nearNames = fc.constantFrom(NAME, 'SID', 'Sid', 'sId', 'xsid', 'sidx', 's id', '%73id', '%73%69%64', '\u00A0sid', '\u2000sid', '\u0085sid', '\u3000sid', 's\u0000id', 'sid\u0000', '', '$sid', '"sid"', '__proto__', 'constructor', 'hasOwnProperty', 'toString', 'a');
const ctrl = fc.constantFrom('\0', '\t', '\r', '\n', '\x7f', '\x85', '\u2028', '\uFEFF', '\uD800', '\uDFFF');
const percent = fc.constantFrom('%', '%2', '%E0%A4%A', '%zz', '%00', '%FF%FE', '%C0%AF', '%3B', '%3D', '%22', '%25', '%2B', '%2F', '%0D%0A');
const b64ish = fc.string({ unit: fc.constantFrom(...BASE64, '-', '_', '=', '.', ':'), maxLength: 50 });
const unicode = fc.string({ unit: 'grapheme', maxLength: 12 });
/** A value: pieces of base64, percent-escapes, Unicode, controls, quotes and separators. */
const valueWith = (separators: boolean) =>
  fc
    .tuple(fc.array(fc.oneof(b64ish, percent, unicode, ctrl, fc.constantFrom('"', ',', ' ', '\\', separators ? ';' : ',', separators ? '=' : '-')), { maxLength: 5 }), fc.boolean())
    .map(([parts, quoted]) => (quoted ? `"${parts.join('')}"` : parts.join('')));
const pairWith = (separators: boolean) =>
  fc.tuple(fc.oneof({ weight: 3, arbitrary: nearNames }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }), fc.constantFrom('=', ' = ', '=\t', separators ? '' : '=', separators ? '==' : '='), valueWith(separators));
const separator = fc.constantFrom(';', '; ', ';;', ' ; ', ';\t', '; ;');

/** A Cookie header: up to 40 pairs, then optionally padded to about 8 KB. */
const headers = fc
  .tuple(fc.array(fc.tuple(pairWith(true), separator), { maxLength: 40 }), fc.option(fc.integer({ min: 0, max: 8192 }), { nil: undefined }))
  .map(([pairs, pad]) => {
    const body = pairs.map(([[n, eq, v], sep]) => `${n}${eq}${v}${sep}`).join('');
    return pad === undefined ? body : `${body}; pad=${'p'.repeat(pad)}`;
  });

describe('fuzz', () => {
  it('readCookieValues never throws or stalls, returns at most MAX_CANDIDATES strings, each from a cookie whose name is exactly the session name', () => {
    // With no ";" or "=" inside names and values, every returned value must come from a pair
    // named exactly "sid" (after trimming SP/HTAB only): decoded and/or unquoted.
    const clean = fc.array(fc.tuple(pairWith(false), separator), { maxLength: 30 });
    fc.assert(
      fc.property(clean, (pairs) => {
        const header = pairs.map(([[n, eq, v], sep]) => `${n}${eq}${v}${sep}`).join('');
        const [out, ms] = timed(() => readCookieValues(header, NAME));
        expect(ms).toBeLessThan(PER_RUN_MS);
        expect(out.length).toBeLessThanOrEqual(MAX_CANDIDATES);
        const allowed = new Set<string>();
        const dec = (s: string): string => {
          try {
            return decodeURIComponent(s);
          } catch {
            return s;
          }
        };
        const unq = (s: string): string => (s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s);
        for (const [[n, eq, v], sep] of pairs) {
          if (n.replace(/^[ \t]+|[ \t]+$/g, '') !== NAME || !eq.includes('=')) continue;
          // A ';' inside the generated value ends the cookie there, as in any Cookie header, and so
          // does ', ' (where Fetch Headers join two Cookie lines), also when a value ending in ','
          // meets a separator starting with ' '.
          const raw = `${eq.slice(eq.indexOf('=') + 1)}${v}${sep}`.split(/;|, /)[0]!.replace(/^[ \t]+|[ \t]+$/g, '');
          for (const x of [raw, dec(raw), unq(raw), dec(unq(raw)), unq(dec(raw)), unq(dec(unq(raw)))]) allowed.add(x);
        }
        for (const value of out) expect(allowed.has(value), JSON.stringify({ header, value })).toBe(true);
      }),
      { numRuns: runs(3000) },
    );
    fc.assert(
      fc.property(headers, (header) => {
        const [out, ms] = timed(() => readCookieValues(header, NAME));
        expect(ms).toBeLessThan(PER_RUN_MS);
        expect(Array.isArray(out) && out.length <= MAX_CANDIDATES && out.every((v) => typeof v === 'string')).toBe(true);
      }),
      { numRuns: runs(2000) },
    );
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
  });

  describe('the signature verifier', () => {
    const signer = createSigner([SECRET, 'the previous secret, long enough too']);
    const genuine = new Set<string>();
    let samples: string[] = [];
    beforeAll(async () => {
      for (const v of ['abc', 'x'.repeat(43), 'a.b.c', '', 'ünï ☃', 'A'.repeat(200)]) genuine.add(await signer.sign(v));
      for (let i = 0; i < 20; i++) genuine.add(await signer.sign(crypto.randomUUID()));
      samples = [...genuine];
    });

    /** A mutation of a genuine signed value: flip, insert, delete, duplicate, re-encode, wrap. */
    const mutated = () =>
      fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.constantFrom('flip', 'insert', 'delete', 'replace', 'dup', 'urlsafe', 'pad', 'wrap', 'case', 'bits'), fc.oneof(fc.constantFrom(...BASE64, '=', '.', '%', ' ', '\0', '\u00e9', '\uD800', ':'), fc.string({ maxLength: 4 }))).map(([which, at, bit, op, extra]) => {
        const s = samples[which % samples.length]!;
        const i = s.length === 0 ? 0 : at % s.length;
        switch (op) {
          case 'flip':
            return s.slice(0, i) + BASE64[(BASE64.indexOf(s[i]!) + 1 + (bit % 63)) % 64] + s.slice(i + 1);
          case 'insert':
            return s.slice(0, i) + extra + s.slice(i);
          case 'delete':
            return s.slice(0, i) + s.slice(i + 1);
          case 'replace':
            return s.slice(0, i) + extra + s.slice(i + 1 + (bit % 3));
          case 'dup':
            return s + s.slice(i);
          case 'urlsafe':
            return s.replace(/\+/g, '-').replace(/\//g, '_');
          case 'pad':
            return `${s}${'='.repeat(1 + (bit % 3))}`;
          case 'wrap':
            return `${extra}${s}${extra}`;
          case 'case':
            return s.slice(0, i) + (s[i] === s[i]!.toUpperCase() ? s[i]!.toLowerCase() : s[i]!.toUpperCase()) + s.slice(i + 1);
          default: {
            const sig = Uint8Array.from(atob(s.slice(-43)), (c) => c.charCodeAt(0));
            sig[bit % 32]! ^= 1 << (at % 8);
            return s.slice(0, -43) + btoa(String.fromCharCode(...sig)).replace(/=+$/, '');
          }
        }
      });
    const anything = fc.oneof(
      mutated(),
      fc.string({ unit: 'binary', maxLength: 8192 }),
      fc.string({ unit: 'grapheme', maxLength: 300 }),
      fc.tuple(fc.string({ maxLength: 60 }), fc.string({ unit: fc.constantFrom(...BASE64, '=', '-', '_', '.', '%'), minLength: 40, maxLength: 46 })).map(([v, sig]) => `${v}.${sig}`),
    );

    it('never throws or stalls, and accepts only values it signed itself (no forged ID ever verifies)', async () => {
      await fc.assert(
        fc.asyncProperty(anything, async (input) => {
          const t0 = performance.now();
          const result = await signer.unsign(input);
          expect(performance.now() - t0).toBeLessThan(PER_RUN_MS * 4);
          if (result !== false) expect(genuine.has(input), JSON.stringify(input)).toBe(true);
        }),
        { numRuns: runs(3000) },
      );
      for (const s of genuine) expect(await signer.unsign(s)).not.toBe(false);
    });
  });

  describe('the engine on arbitrary Cookie headers', () => {
    it('never throws and loads a session only when the header carries its genuine cookie under the exact name', async () => {
      const store = createMemoryStore({ sweepInterval: 0 });
      const engine = createSessionEngine({ secret: SECRET, store });
      const seed = engine.load({ secure: true });
      await seed.set('user', 'alice');
      const pair = await committedPair(engine, seed);
      const value = pair.slice(4);
      const decoded = decodeURIComponent(value);
      // Forms of the genuine cookie that are the same value (percent-encoded or not, quoted).
      const genuineForms = [value, decoded, `"${value}"`, `"${decoded}"`];
      const forgeries = fc.tuple(fc.nat(42), fc.nat(62)).map(([at, shift]) => {
        const sigAt = decoded.length - 43 + at;
        const c = decoded[sigAt]!;
        return encodeURIComponent(decoded.slice(0, sigAt) + BASE64[(BASE64.indexOf(c) + 1 + shift) % 64] + decoded.slice(sigAt + 1));
      });
      await fc.assert(
        fc.asyncProperty(headers, fc.option(fc.constantFrom(...genuineForms), { nil: undefined }), fc.array(forgeries, { maxLength: 3 }), fc.nat(), async (header, genuine, forged, at) => {
          const extras = [...forged.map((f) => `${NAME}=${f}`), ...(genuine ? [`${NAME}=${genuine}`] : [])];
          const parts = header.split(';');
          for (const extra of extras) parts.splice(at % (parts.length + 1), 0, extra);
          const cookie = parts.join(';');
          const t0 = performance.now();
          const s = await engine.load({ cookie, secure: true }).load();
          await engine.commit(s);
          expect(performance.now() - t0).toBeLessThan(PER_RUN_MS * 8);
          if (!s.isNew) {
            expect(genuine, cookie).toBeDefined();
            expect(await s.get('user')).toBe('alice');
          }
        }),
        { numRuns: runs(500) },
      );
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
    });
  });

  describe('the stored-record decoder', () => {
    const json = fc.jsonValue({ maxDepth: 3 });
    const dangerous = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'cookie', '_ws', 'id', 'save', '');
    const cookieLike = fc.record(
      {
        originalMaxAge: fc.oneof(fc.constant(null), fc.integer(), fc.double({ noNaN: false }), fc.constantFrom(1e300, -1e300, 8.64e15, 60_000), json),
        expires: fc.oneof(fc.constant(null), fc.date({ noInvalidDate: true, min: new Date(-8.64e15), max: new Date(8.64e15) }).map((d) => d.toISOString()), fc.string(), fc.integer(), json),
        path: fc.oneof(fc.constant('/'), fc.string({ maxLength: 10 }), json),
        domain: fc.oneof(fc.constantFrom(undefined, 'example.com', '.a.b', 'evil; HttpOnly', 'a\r\nb'), json),
        httpOnly: fc.oneof(fc.boolean(), json),
        secure: fc.oneof(fc.boolean(), json),
        sameSite: fc.oneof(fc.constantFrom(true, false, 'lax', 'Strict', 'NONE', 'bogus', 'lax; Domain=evil'), json),
        priority: fc.oneof(fc.constantFrom('low', 'High', 'x\r\n'), json),
        partitioned: fc.oneof(fc.boolean(), json),
      },
      { requiredKeys: [] },
    );
    const wsLike = fc.record(
      {
        c: fc.oneof(fc.constant(Date.now() - 1000), fc.integer(), fc.double(), json),
        a: fc.oneof(fc.constant(Date.now() - 1000), fc.integer(), json),
        v: fc.oneof(fc.nat(), fc.double(), json),
        u: json,
        f: fc.oneof(fc.dictionary(fc.oneof(fc.string({ maxLength: 5 }), dangerous), json, { maxKeys: 3 }), json),
      },
      { requiredKeys: [] },
    );
    const record = fc
      .tuple(fc.oneof(cookieLike, json), fc.option(fc.oneof(wsLike, json), { nil: undefined }), fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), dangerous), json, { maxKeys: 6 }))
      .map(([cookie, ws, data]) => {
        const r: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(data)) Object.defineProperty(r, k, { value: v, enumerable: true, writable: true, configurable: true });
        r.cookie = cookie;
        if (ws !== undefined) r._ws = ws;
        return r;
      });
    const stored = fc.oneof({ weight: 4, arbitrary: record }, { weight: 1, arbitrary: json });
    const action = fc.constantFrom('read', 'set', 'regenerate', 'destroy', 'flash', 'save', 'touch', 'maxAge');

    it('never throws, never pollutes, and never writes a Set-Cookie outside the cookie grammar, whatever JSON a store returns', async () => {
      let current: string = 'null';
      const writes: Array<[string, number]> = [];
      const store: Store = {
        capabilities: { nativeTtl: true, consistency: 'strong', compareAndSet: true, listing: false },
        // What a store hands back: parsed JSON, a fresh copy each time.
        get: async () => JSON.parse(current) as SessionRecord,
        async set(id, rec, ttl) {
          writes.push([id, ttl]);
          JSON.stringify(rec);
          return true;
        },
        destroy: async () => {},
        touch: async (_id, rec, ttl) => {
          writes.push(['touch', ttl]);
          JSON.stringify(rec);
        },
      };
      const cookie = await cookiePair('sid', 'fuzzed-id');
      const SET_COOKIE = /^sid=[!#-+\--:<-[\]-~]*(; (Max-Age=\d+|Domain=[A-Za-z0-9.-]+|Path=[ -:<-~]*|Expires=[A-Za-z0-9 ,:]+|HttpOnly|Secure|Partitioned|Priority=(Low|Medium|High)|SameSite=(Strict|Lax|None)))*$/;
      await fc.assert(
        fc.asyncProperty(stored, fc.boolean(), fc.boolean(), action, async (value, rolling, resave, act) => {
          current = JSON.stringify(value);
          writes.length = 0;
          const engine = createSessionEngine({ secret: SECRET, store, rolling, resave, idleTimeout: 3_600_000, absoluteTimeout: 86_400_000 });
          const t0 = performance.now();
          const s = await engine.load({ cookie, secure: true }).load();
          if (act === 'set') await s.set('n', 1);
          if (act === 'regenerate') await s.regenerate({ keepData: true });
          if (act === 'destroy') await s.destroy();
          if (act === 'flash') await s.flash('x', 1), await s.flash('x');
          if (act === 'save') await s.save();
          if (act === 'touch') s.touch();
          if (act === 'maxAge') s.cookie.maxAge = 60_000;
          void (await s.get('__proto__' as never));
          const result = await engine.commit(s);
          expect(performance.now() - t0).toBeLessThan(PER_RUN_MS * 8);
          for (const header of result.setCookie) expect(header, current).toMatch(SET_COOKIE);
          for (const [, ttl] of writes) expect(ttl > 0 && Number.isFinite(ttl), current).toBe(true);
          expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
        }),
        { numRuns: runs(1500) },
      );
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
    });
  });
});

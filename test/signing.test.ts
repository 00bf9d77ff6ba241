import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { createSigner } from '../src/signing.ts';

const require = createRequire(import.meta.url);

interface CookieSignature {
  sign(value: string, secret: string): string;
  unsign(value: string, secret: string): string | false;
}

/** The real cookie-signature versions installed (express-session's own copy first), or none. */
function loadCookieSignatures(): Array<[string, CookieSignature]> {
  const found: Array<[string, CookieSignature]> = [];
  for (const path of ['express-session/node_modules/cookie-signature', 'express/node_modules/cookie-signature', 'cookie-signature']) {
    try {
      const version = (require(`${path}/package.json`) as { version: string }).version;
      if (!found.some(([v]) => v === version)) found.push([version, require(path) as CookieSignature]);
    } catch {
      // not installed at this path
    }
  }
  return found;
}

const cookieSignatures = loadCookieSignatures();
const SECRET = 'keyboard cat';
const ABC = 'abc.BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFU';
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('createSigner', () => {
  it('signs the worked example of express-session bit for bit', async () => {
    expect(await createSigner([SECRET]).sign('abc')).toBe(ABC);
  });

  it.each([
    ['abc', 's%3Aabc.BpxCrWRpvZMh%2Fwk%2Fdjl34N%2Bm%2BVQEU7K%2F5WenLwJCgFU'],
    ['apple', 's%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU'],
    ['%', 's%3A%25.kzQ6x52kKVdF35Qh62AWk4ZekS28K5XYCXKa%2FOTZ01g'],
    ['/foo', 's%3A%2Ffoo.paEKBtAHbV5s1IB8B2zPnzAgYmmnRPIqObW4VRYj%2FMQ'],
  ])('writes the express-session cookie value for ID %j', async (id, wire) => {
    const signed = await createSigner([SECRET]).sign(id);
    expect(encodeURIComponent(`s:${signed}`)).toBe(wire);
    expect(await createSigner([SECRET]).unsign(signed)).toEqual({ value: id, secretIndex: 0 });
  });

  it('verifies the worked example and returns the value with the index of the secret', async () => {
    expect(await createSigner([SECRET]).unsign(ABC)).toEqual({ value: 'abc', secretIndex: 0 });
  });

  it('rejects the worked example under another secret', async () => {
    expect(await createSigner(['nyan cat']).unsign(ABC)).toBe(false);
  });

  it('keeps everything before the last dot as the value, so IDs may contain dots', async () => {
    const signer = createSigner([SECRET]);
    const signed = await signer.sign('a.b.c');
    expect(await signer.unsign(signed)).toEqual({ value: 'a.b.c', secretIndex: 0 });
  });

  it('signs the empty string and verifies it', async () => {
    const signer = createSigner([SECRET]);
    const signed = await signer.sign('');
    expect(signed).toMatch(/^\.[A-Za-z0-9+/]{43}$/);
    expect(await signer.unsign(signed)).toEqual({ value: '', secretIndex: 0 });
  });

  describe('interop with the cookie-signature package', () => {
    it('finds at least one installed copy of cookie-signature', () => {
      expect(cookieSignatures.length).toBeGreaterThan(0);
    });

    it.each(cookieSignatures)('cookie-signature %s verifies what we sign', async (_version, lib) => {
      const signer = createSigner([SECRET]);
      for (const id of ['abc', 'apple', '%', '/foo', 'x'.repeat(43), 'ünïcødé ☃ 𝄞']) {
        const ours = await signer.sign(id);
        expect(ours).toBe(lib.sign(id, SECRET));
        expect(lib.unsign(ours, SECRET)).toBe(id);
      }
    });

    it.each(cookieSignatures)('we verify what cookie-signature %s signs', async (_version, lib) => {
      const signer = createSigner([SECRET]);
      for (const id of ['abc', 'apple', '%', '/foo', 'ünïcødé ☃ 𝄞']) {
        expect(await signer.unsign(lib.sign(id, SECRET))).toEqual({ value: id, secretIndex: 0 });
      }
    });

    it.each(cookieSignatures)('agrees with cookie-signature %s on arbitrary values and secrets', async (_version, lib) => {
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 64 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }), async (value, secret) => {
          const signer = createSigner([secret]);
          const ours = await signer.sign(value);
          expect(ours).toBe(lib.sign(value, secret));
          expect(await signer.unsign(lib.sign(value, secret))).toEqual({ value, secretIndex: 0 });
        }),
        { numRuns: 100 },
      );
    });
  });

  describe('secret rotation', () => {
    it('signs with the first secret', async () => {
      const rotated = createSigner(['new secret', SECRET]);
      const signed = await rotated.sign('abc');
      expect(signed).toBe(await createSigner(['new secret']).sign('abc'));
      expect(await createSigner([SECRET]).unsign(signed)).toBe(false);
    });

    it('verifies a value signed with the second secret and reports secretIndex 1', async () => {
      expect(await createSigner(['new secret', SECRET]).unsign(ABC)).toEqual({ value: 'abc', secretIndex: 1 });
    });

    it('reports the index of the third secret', async () => {
      expect(await createSigner(['one', 'two', SECRET]).unsign(ABC)).toEqual({ value: 'abc', secretIndex: 2 });
    });

    it('rejects a value signed with a secret that was rotated out', async () => {
      expect(await createSigner(['new secret', 'other']).unsign(ABC)).toBe(false);
    });
  });

  describe('strict signature grammar', () => {
    const lastChar = ABC.at(-1)!;
    // 'U' is 20 (0b010100); the last character's two low bits are unused, so 'V', 'W' and 'X' decode to the same bytes.
    const sameBytes = ['V', 'W', 'X'];

    it.each([
      ['padding re-added', `${ABC}=`],
      ['two padding characters', `${ABC}==`],
      ['base64url alphabet', ABC.replace(/\+/g, '-').replace(/\//g, '_')],
      ['trailing junk', `${ABC}x`],
      ['a trailing dot', `${ABC}.`],
      ['a trailing NUL', `${ABC}\0`],
      ['a trailing %00', `${ABC}%00`],
      ['a signature one character short', ABC.slice(0, -1)],
      ['no signature', 'abc'],
      ['an empty signature', 'abc.'],
      ['the signature alone', ABC.slice(3)],
      ['an empty string', ''],
      ['a lone dot', '.'],
      ['whitespace inside the signature', `${ABC.slice(0, 10)} ${ABC.slice(11)}`],
      ['a leading space', ` ${ABC}`],
      ['the value changed', `abd${ABC.slice(3)}`],
      ['the value with an extra prefix', `s:${ABC}`],
      ...sameBytes.map((c) => [`a non-canonical last character ${lastChar}->${c}`, ABC.slice(0, -1) + c] as [string, string]),
    ])('rejects %s', async (_label, input) => {
      expect(await createSigner([SECRET]).unsign(input)).toBe(false);
    });

    it('really has non-canonical variants that decode to the same MAC bytes (so the test above means something)', () => {
      const sig = ABC.slice(4);
      for (const c of sameBytes) expect(atob(`${sig.slice(0, -1)}${c}`)).toBe(atob(sig));
    });

    it.each([
      ['a number', 42],
      ['null', null],
      ['undefined', undefined],
      ['an object', { toString: () => ABC }],
    ])('returns false for %s instead of throwing', async (_label, input) => {
      expect(await createSigner([SECRET]).unsign(input as unknown as string)).toBe(false);
    });
  });

  describe('byte secrets', () => {
    it('gives the same signature for a Uint8Array secret as for the string it encodes', async () => {
      const bytes = new TextEncoder().encode(SECRET);
      expect(await createSigner([bytes]).sign('abc')).toBe(ABC);
      expect(await createSigner([bytes]).unsign(ABC)).toEqual({ value: 'abc', secretIndex: 0 });
    });

    it('mixes byte and string secrets in one rotation list', async () => {
      const signer = createSigner([new Uint8Array([1, 2, 3, 4]), new TextEncoder().encode(SECRET)]);
      expect(await signer.unsign(ABC)).toEqual({ value: 'abc', secretIndex: 1 });
    });

    it('uses a Node Buffer secret as its bytes, like crypto.createHmac', async () => {
      expect(await createSigner([Buffer.from(SECRET)]).sign('abc')).toBe(ABC);
    });
  });

  describe('CryptoKey cache', () => {
    it('imports each secret once across many sign and unsign calls', async () => {
      const importKey = vi.spyOn(crypto.subtle, 'importKey');
      const signer = createSigner(['first secret', SECRET]);
      const values = Array.from({ length: 50 }, (_, i) => `value-${i}`);
      for (const v of values) await signer.sign(v);
      // Signed under the second secret only, so verification must try both keys each time.
      const old = createSigner([SECRET]);
      const importsBefore = importKey.mock.calls.length;
      for (const v of values) expect(await signer.unsign(await old.sign(v))).toEqual({ value: v, secretIndex: 1 });
      for (const v of values) expect(await signer.unsign(`${v}.${'A'.repeat(43)}`)).toBe(false);
      // `old` imported its one key; `signer` imported its two keys once each.
      expect(importKey.mock.calls.length - importsBefore).toBe(2);
      expect(importKey).toHaveBeenCalledTimes(3);
    });

    it('imports concurrently used secrets once even when the first calls race', async () => {
      const importKey = vi.spyOn(crypto.subtle, 'importKey');
      const signer = createSigner([SECRET]);
      await Promise.all(Array.from({ length: 20 }, (_, i) => signer.sign(`v${i}`)));
      expect(importKey).toHaveBeenCalledTimes(1);
    });

    it('does not import any key for a signature that fails the grammar check', async () => {
      const importKey = vi.spyOn(crypto.subtle, 'importKey');
      const verify = vi.spyOn(crypto.subtle, 'verify');
      const signer = createSigner([SECRET]);
      expect(await signer.unsign(`${ABC}=`)).toBe(false);
      expect(await signer.unsign('x'.repeat(4096))).toBe(false);
      expect(importKey).not.toHaveBeenCalled();
      expect(verify).not.toHaveBeenCalled();
    });
  });

  describe('properties', () => {
    const values = fc.string({ unit: 'grapheme', maxLength: 200 });

    it('verifies whatever it signed', async () => {
      const signer = createSigner([SECRET]);
      await fc.assert(
        fc.asyncProperty(values, async (value) => {
          expect(await signer.unsign(await signer.sign(value))).toEqual({ value, secretIndex: 0 });
        }),
      );
    });

    it('rejects any change of one signature character', async () => {
      const signer = createSigner([SECRET]);
      await fc.assert(
        fc.asyncProperty(values, fc.nat(42), fc.nat(63), async (value, at, shift) => {
          const signed = await signer.sign(value);
          const sigStart = signed.length - 43;
          const old = signed[sigStart + at]!;
          const replacement = BASE64[(BASE64.indexOf(old) + 1 + shift) % 64]!;
          fc.pre(replacement !== old);
          const tampered = signed.slice(0, sigStart + at) + replacement + signed.slice(sigStart + at + 1);
          expect(await signer.unsign(tampered)).toBe(false);
        }),
      );
    });

    it('rejects any single bit flip in the MAC bytes', async () => {
      const signer = createSigner([SECRET]);
      await fc.assert(
        fc.asyncProperty(values, fc.nat(255), async (value, bit) => {
          const signed = await signer.sign(value);
          const sig = signed.slice(-43);
          const bytes = Uint8Array.from(atob(sig), (c) => c.charCodeAt(0));
          bytes[bit >> 3]! ^= 1 << (bit & 7);
          const flipped = btoa(String.fromCharCode(...bytes)).replace(/=+$/, '');
          expect(await signer.unsign(signed.slice(0, -43) + flipped)).toBe(false);
        }),
      );
    });

    it('rejects any single bit flip in an ASCII value', async () => {
      const signer = createSigner([SECRET]);
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 100 }), fc.nat(), fc.nat(6), async (value, at, bit) => {
          const signed = await signer.sign(value);
          const i = at % value.length;
          const flipped = value.slice(0, i) + String.fromCharCode(value.charCodeAt(i) ^ (1 << bit)) + value.slice(i + 1);
          expect(await signer.unsign(flipped + signed.slice(value.length))).toBe(false);
        }),
      );
    });

    it('rejects anything added before or after a signed value', async () => {
      const signer = createSigner([SECRET]);
      const extra = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 });
      await fc.assert(
        fc.asyncProperty(values, extra, fc.boolean(), async (value, added, before) => {
          const signed = await signer.sign(value);
          expect(await signer.unsign(before ? added + signed : signed + added)).toBe(false);
        }),
      );
    });

    it('never throws on arbitrary strings, including lone surrogates and 8 KB inputs', async () => {
      const signer = createSigner([SECRET, 'second secret']);
      const shaped = fc
        .tuple(fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ unit: fc.constantFrom(...BASE64, '=', '-', '_', '.', '%'), minLength: 40, maxLength: 46 }))
        .map(([v, s]) => `${v}.${s}`);
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.string({ unit: 'binary', maxLength: 8192 }), fc.string({ unit: 'grapheme', maxLength: 8192 }), shaped), async (input) => {
          const result = await signer.unsign(input);
          expect(result === false || (typeof result === 'object' && typeof result.value === 'string')).toBe(true);
        }),
        { numRuns: 300 },
      );
    });
  });
});

describe('createSigner with a synchronous hmac (node:crypto)', () => {
  const secrets = ['old secret, still accepted, 32+ chars', 'keyboard cat keyboard cat keyboard cat'];

  it('signs exactly what Web Crypto signs, for many values', async () => {
    const { nodeHmac } = await import('../adapters/node-hmac.ts');
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 64 }), async (value) => {
        const web = await createSigner([secrets[0]!]).sign(value);
        const node = await createSigner([secrets[0]!], nodeHmac).sign(value);
        expect(node).toBe(web);
      }),
      { numRuns: 200 },
    );
  });

  it('verifies Web Crypto signatures under every secret and reports which one matched', async () => {
    const { nodeHmac } = await import('../adapters/node-hmac.ts');
    const signedOld = await createSigner([secrets[0]!]).sign('abc');
    const signedNew = await createSigner([secrets[1]!]).sign('abc');
    const signer = createSigner([secrets[1]!, secrets[0]!], nodeHmac);
    expect(await signer.unsign(signedNew)).toEqual({ value: 'abc', secretIndex: 0 });
    expect(await signer.unsign(signedOld)).toEqual({ value: 'abc', secretIndex: 1 });
  });

  it('rejects a signature with one character changed, and one under an unknown secret', async () => {
    const { nodeHmac } = await import('../adapters/node-hmac.ts');
    const signer = createSigner([secrets[1]!], nodeHmac);
    const signed = await signer.sign('session-id');
    const last = signed.at(-1) === 'A' ? 'E' : 'A';
    expect(await createSigner([secrets[1]!], nodeHmac).unsign(signed.slice(0, -1) + last)).toBe(false);
    expect(await createSigner(['another secret entirely, long enough'], nodeHmac).unsign(signed)).toBe(false);
  });

  it('treats a throwing hmac as a failed verification, never as an exception', async () => {
    const signed = await createSigner([secrets[1]!]).sign('x');
    const broken = () => {
      throw new Error('hmac down');
    };
    expect(await createSigner([secrets[1]!], broken).unsign(signed)).toBe(false);
  });
});

describe('unsignNow: the answer without a promise, when no Web Crypto call is needed', () => {
  it('answers a value verified before at once, with the secret that verified it', async () => {
    const signer = createSigner(['new secret', SECRET]);
    expect(signer.unsignNow(ABC)).toBeUndefined();
    expect(await signer.unsign(ABC)).toEqual({ value: 'abc', secretIndex: 1 });
    expect(signer.unsignNow(ABC)).toEqual({ value: 'abc', secretIndex: 1 });
  });

  it('rejects at once what could never verify, without importing a key', async () => {
    const importKey = vi.spyOn(crypto.subtle, 'importKey');
    const signer = createSigner([SECRET]);
    for (const bad of ['no-dot', `${ABC}=`, `${ABC.slice(0, -1)}B`, 'abc.', 42 as unknown as string]) expect(signer.unsignNow(bad)).toBe(false);
    expect(importKey).not.toHaveBeenCalled();
  });

  it('leaves a well-formed value it has not seen to unsign(), which gives the same answer as before', async () => {
    const signer = createSigner([SECRET]);
    const forged = `abc.${'A'.repeat(43)}`;
    expect(signer.unsignNow(forged)).toBeUndefined();
    expect(await signer.unsign(forged)).toBe(false);
    // A forgery never enters the memo: it is checked again, and fails again.
    expect(signer.unsignNow(forged)).toBeUndefined();
  });

  it('answers everything at once with a synchronous hmac', async () => {
    const { nodeHmac } = await import('../adapters/node-hmac.ts');
    const signer = createSigner([SECRET], nodeHmac);
    expect(signer.unsignNow(ABC)).toEqual({ value: 'abc', secretIndex: 0 });
    expect(signer.unsignNow(`abc.${'A'.repeat(43)}`)).toBe(false);
  });
});

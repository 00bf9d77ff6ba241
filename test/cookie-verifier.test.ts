import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCookieVerifier } from '../src/cookie-verifier.ts';
import { createSigner, MEMO_LIMIT, type Signer } from '../src/signing.ts';

const SECRET = 'keyboard cat';
const hmac = (secret: string | Uint8Array, value: string): Uint8Array => new Uint8Array(createHmac('sha256', secret).update(value).digest());

/** A real signer whose calls are counted, to see which answers came from the verifier's memo. */
function countedSigner(signer: Signer): Signer & { calls: { unsignNow: number; unsign: number } } {
  const calls = { unsignNow: 0, unsign: 0 };
  return {
    ...signer,
    calls,
    unsignNow(signed) {
      calls.unsignNow++;
      return signer.unsignNow(signed);
    },
    unsign(signed) {
      calls.unsign++;
      return signer.unsign(signed);
    },
  };
}

/** The cookie value express-session sends for `id`: `s:` + signed ID, percent-encoded. */
async function cookieFor(id: string, secret = SECRET): Promise<string> {
  return encodeURIComponent(`s:${await createSigner([secret]).sign(id)}`);
}

describe('createCookieVerifier', () => {
  it('verifies an express-session cookie value as sent and answers the same value again without the signer', async () => {
    const signer = countedSigner(createSigner([SECRET], hmac));
    const verifier = createCookieVerifier(signer);
    const raw = await cookieFor('abc');
    expect(verifier.verifyNow(raw)).toEqual({ value: 'abc', secretIndex: 0 });
    expect(verifier.verifyNow(raw)).toEqual({ value: 'abc', secretIndex: 0 });
    expect(await verifier.verify(raw)).toEqual({ value: 'abc', secretIndex: 0 });
    expect(signer.calls).toEqual({ unsignNow: 1, unsign: 0 });
  });

  it('reads the value decoded, unquoted or not encoded at all, as express-session does', async () => {
    const verifier = createCookieVerifier(createSigner([SECRET], hmac));
    const plain = decodeURIComponent(await cookieFor('abc'));
    expect(verifier.verifyNow(plain)).toEqual({ value: 'abc', secretIndex: 0 });
    expect(verifier.verifyNow(`"${plain}"`)).toEqual({ value: 'abc', secretIndex: 0 });
    expect(verifier.verifyNow(plain.replace(':', '%3a'))).toEqual({ value: 'abc', secretIndex: 0 });
  });

  it('never remembers a value that failed, so a forged value is checked again every time', async () => {
    const signer = countedSigner(createSigner([SECRET], hmac));
    const verifier = createCookieVerifier(signer);
    const forged = await cookieFor('abc', 'another secret');
    for (let i = 0; i < 3; i++) expect(verifier.verifyNow(forged)).toBe(false);
    expect(signer.calls.unsignNow).toBe(3);
  });

  it('refuses a value without the s: prefix without asking the signer', async () => {
    const signer = countedSigner(createSigner([SECRET], hmac));
    const verifier = createCookieVerifier(signer);
    const unsigned = (await cookieFor('abc')).replace('s%3A', '');
    expect(verifier.verifyNow(unsigned)).toBe(false);
    expect(await verifier.verify('abc')).toBe(false);
    expect(signer.calls).toEqual({ unsignNow: 0, unsign: 0 });
  });

  it('leaves a Web Crypto check to verify(), then answers verifyNow() from its memo', async () => {
    const signer = countedSigner(createSigner([SECRET]));
    const verifier = createCookieVerifier(signer);
    const raw = await cookieFor('abc');
    expect(verifier.verifyNow(raw)).toBeUndefined();
    expect(await verifier.verify(raw)).toEqual({ value: 'abc', secretIndex: 0 });
    expect(verifier.verifyNow(raw)).toEqual({ value: 'abc', secretIndex: 0 });
    expect(signer.calls.unsign).toBe(1);
  });

  it('reports which secret verified a value signed with an older one', async () => {
    const verifier = createCookieVerifier(createSigner(['new secret', SECRET], hmac));
    const raw = await cookieFor('abc');
    expect(verifier.verifyNow(raw)).toEqual({ value: 'abc', secretIndex: 1 });
    expect(verifier.verifyNow(raw)).toEqual({ value: 'abc', secretIndex: 1 });
  });

  it(`keeps at most ${MEMO_LIMIT} values: one more empties the memo`, async () => {
    const signer = countedSigner(createSigner([SECRET], hmac));
    const verifier = createCookieVerifier(signer);
    const raws = await Promise.all(Array.from({ length: MEMO_LIMIT + 1 }, (_, i) => cookieFor(`id${i}`)));
    for (const raw of raws) verifier.verifyNow(raw);
    const before = signer.calls.unsignNow;
    verifier.verifyNow(raws[MEMO_LIMIT]!);
    expect(signer.calls.unsignNow).toBe(before);
    verifier.verifyNow(raws[0]!);
    expect(signer.calls.unsignNow).toBe(before + 1);
  });
});

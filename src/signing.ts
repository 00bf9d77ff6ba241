/**
 * HMAC-SHA256 signing of session IDs in express-session's (cookie-signature's) wire format:
 * `value + "." + base64(HMAC(value))` with standard base64 and no `=` padding.
 * @module
 */
import type { HmacSha256, Secret } from './options.ts';

/** What a verified signature gives: the signed value, and the index of the secret that verified it. */
export type Verified = { value: string; secretIndex: number };

/** A signer bound to an ordered list of secrets: the first signs, all verify. */
export interface Signer {
  /** Returns `value.signature` signed with the first secret. */
  sign(value: string): Promise<string>;
  /**
   * Verifies `value.signature`; resolves the value and the index of the secret that
   * verified it, or `false`. Never throws, whatever the input.
   */
  unsign(signed: string): Promise<{ value: string; secretIndex: number } | false>;
  /** {@link Signer.sign} without the promise, when no Web Crypto call is needed (signed before, or a synchronous `hmac`); otherwise `undefined`. */
  signNow(value: string): string | undefined;
  /**
   * {@link Signer.unsign} without the promise, when the answer needs no Web Crypto call: a value
   * verified before, a malformed one, or any value with a synchronous `hmac`. Otherwise
   * `undefined`, and `unsign` gives the answer.
   */
  unsignNow(signed: string): { value: string; secretIndex: number } | false | undefined;
}

const encoder = new TextEncoder();
// 32 bytes in unpadded base64 is 43 characters; the last one carries 2 unused bits that must be
// zero, so only 16 characters may end a canonical signature (a non-canonical one is rejected).
const CANONICAL_SIGNATURE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]$/;
/**
 * How many entries a memo of verified (or signed) values holds before it is emptied. Verifying and
 * signing cost one Web Crypto call each, which dominates a session read; only values that verified
 * (or that we signed) enter, so a memo cannot be used to make a forged cookie verify.
 */
export const MEMO_LIMIT = 4096;

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!);
  return btoa(binary).replace(/=+$/, '');
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Compares two equal-length strings without an early exit, so timing does not reveal how many leading characters match. */
function equalInConstantTime(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Creates a signer; each secret is imported as a `CryptoKey` once, on first use. With `hmac`
 * (a synchronous HMAC-SHA256 such as node:crypto's) Web Crypto is not used at all.
 */
export function createSigner(secrets: readonly Secret[], hmac?: HmacSha256): Signer {
  const keys: Array<Promise<CryptoKey> | undefined> = [];
  const verified = new Map<string, { value: string; secretIndex: number }>();
  const signedMemo = new Map<string, string>();

  const key = (index: number): Promise<CryptoKey> => {
    let k = keys[index];
    if (k === undefined) {
      const secret = secrets[index]!;
      const raw = typeof secret === 'string' ? encoder.encode(secret) : new Uint8Array(secret);
      k = crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
      keys[index] = k;
    }
    return k;
  };

  return {
    signNow,
    async sign(value) {
      return signNow(value) ?? rememberSigned(value, await crypto.subtle.sign('HMAC', await key(0), encoder.encode(value)));
    },
    unsignNow,
    async unsign(signed) {
      const now = unsignNow(signed);
      if (now !== undefined) return now;
      const dot = signed.lastIndexOf('.');
      const value = signed.slice(0, dot);
      const mac = fromBase64(signed.slice(dot + 1));
      const data = encoder.encode(value);
      for (let i = 0; i < secrets.length; i++) {
        try {
          // crypto.subtle.verify compares in constant time (no early exit on the first wrong byte).
          if (await crypto.subtle.verify('HMAC', await key(i), mac, data)) return remember(signed, value, i);
        } catch {
          return false;
        }
      }
      return false;
    },
  };

  function signNow(value: string): string | undefined {
    const memo = signedMemo.get(value);
    if (memo !== undefined) return memo;
    return hmac ? rememberSigned(value, hmac(secrets[0]!, value)) : undefined;
  }

  /** `value.signature` for a MAC just computed, remembered for the next signNow(). */
  function rememberSigned(value: string, mac: ArrayBuffer | Uint8Array): string {
    const result = `${value}.${toBase64(new Uint8Array(mac))}`;
    if (signedMemo.size >= MEMO_LIMIT) signedMemo.clear();
    signedMemo.set(value, result);
    return result;
  }

  function unsignNow(signed: string): { value: string; secretIndex: number } | false | undefined {
    if (typeof signed !== 'string') return false;
    const hit = verified.get(signed);
    if (hit !== undefined) return hit;
    const dot = signed.lastIndexOf('.');
    if (dot < 0) return false;
    const signature = signed.slice(dot + 1);
    // Strict decoding: padding, extra characters or a non-canonical ending never verify,
    // and the check costs no crypto (cookie-signature #40 accepted trailing junk).
    if (!CANONICAL_SIGNATURE.test(signature)) return false;
    if (hmac) return verifyWith(hmac, signed.slice(0, dot), signature, signed);
    // Web Crypto is asynchronous: unsign() does the rest.
    return undefined;
  }

  /** Enters a verified cookie value in the memo and returns its result. */
  function remember(signed: string, value: string, secretIndex: number): { value: string; secretIndex: number } {
    const result = { value, secretIndex };
    if (verified.size >= MEMO_LIMIT) verified.clear();
    verified.set(signed, result);
    return result;
  }

  function verifyWith(mac: HmacSha256, value: string, signature: string, signed: string): { value: string; secretIndex: number } | false {
    for (let i = 0; i < secrets.length; i++) {
      let expected: string;
      try {
        expected = toBase64(mac(secrets[i]!, value));
      } catch {
        return false;
      }
      // Forgery by timing: compare every character, whatever the first mismatch.
      if (equalInConstantTime(expected, signature)) return remember(signed, value, i);
    }
    return false;
  }
}

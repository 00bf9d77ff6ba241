/**
 * From a session cookie's value, as the browser sent it, to the session ID it names:
 * percent-decoded and unquoted, the `s:` prefix of express-session's format checked, and the
 * signature verified. Raw values that verified are remembered, so a returning visitor's cookie
 * costs one `Map` lookup per request instead of a decode, two substrings and the signer's lookup
 * of a new string (about 5,000 instructions of string work per Hono request, bench/README.md).
 * @module
 */
import { cookieValueOf } from './cookie.ts';
import { MEMO_LIMIT, type Signer, type Verified } from './signing.ts';

/** Verifies raw session cookie values; see the module comment. */
export interface CookieVerifier {
  /**
   * The session ID and secret index that `raw` names, when known without Web Crypto (a value
   * verified before, an unsigned or malformed one, or a synchronous `hmac`); `false` when it does
   * not verify; `undefined` when only {@link CookieVerifier.verify} can tell.
   */
  verifyNow(raw: string): Verified | false | undefined;
  /** The same answer, with Web Crypto where needed; never rejects. */
  verify(raw: string): Promise<Verified | false>;
}

/** A verifier over `signer`, with its own bounded memo of raw values that verified. */
export function createCookieVerifier(signer: Signer): CookieVerifier {
  // Only values that verified enter, so the memo cannot make a forged cookie verify; it is keyed
  // by the exact bytes that verified, and dropped wholesale when full (an attacker holding many
  // valid cookies can only empty it).
  const memo = new Map<string, Verified>();
  const remember = (raw: string, result: Verified | false): Verified | false => {
    if (result) {
      if (memo.size >= MEMO_LIMIT) memo.clear();
      memo.set(raw, result);
    }
    return result;
  };
  /** The signed part of express-session's `s:` + signed ID; undefined for any other value, which never loads a session. */
  const signedPart = (raw: string): string | undefined => {
    const value = cookieValueOf(raw);
    return value.startsWith('s:') ? value.slice(2) : undefined;
  };
  const verifyNow = (raw: string): Verified | false | undefined => {
    const known = memo.get(raw);
    if (known !== undefined) return known;
    const signed = signedPart(raw);
    if (signed === undefined) return false;
    const result = signer.unsignNow(signed);
    return result === undefined ? undefined : remember(raw, result);
  };
  return {
    verifyNow,
    async verify(raw) {
      const known = memo.get(raw);
      if (known !== undefined) return known;
      const signed = signedPart(raw);
      // signer.unsign answers at once itself where unsignNow could.
      return signed === undefined ? false : remember(raw, await signer.unsign(signed));
    },
  };
}

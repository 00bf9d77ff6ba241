/**
 * Session ID generation.
 * @module
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ID_BYTES = 32;
// Random bytes are drawn 128 IDs at a time: one CSPRNG call instead of one per request.
// Each byte is used for exactly one ID, so pooling changes nothing about their randomness.
const POOL_IDS = 128;
const pool = new Uint8Array(ID_BYTES * POOL_IDS);
let offset = pool.length;
const codes: number[] = new Array(43);

/** Returns a new session ID: 32 bytes (256 bits) from the CSPRNG, base64url, 43 characters. */
export function generateSessionId(): string {
  if (offset >= pool.length) {
    // Called with its receiver: a detached getRandomValues throws ERR_INVALID_THIS on Node.
    crypto.getRandomValues(pool);
    offset = 0;
  }
  let c = 0;
  // base64url of 32 bytes: ten 3-byte groups, then 2 bytes into 3 characters, no padding.
  for (let i = offset, end = offset + 30; i < end; i += 3) {
    const n = (pool[i]! << 16) | (pool[i + 1]! << 8) | pool[i + 2]!;
    codes[c++] = ALPHABET.charCodeAt(n >> 18);
    codes[c++] = ALPHABET.charCodeAt((n >> 12) & 63);
    codes[c++] = ALPHABET.charCodeAt((n >> 6) & 63);
    codes[c++] = ALPHABET.charCodeAt(n & 63);
  }
  const n = (pool[offset + 30]! << 8) | pool[offset + 31]!;
  codes[c++] = ALPHABET.charCodeAt(n >> 10);
  codes[c++] = ALPHABET.charCodeAt((n >> 4) & 63);
  codes[c++] = ALPHABET.charCodeAt((n << 2) & 63);
  // Used bytes are wiped so no ID's randomness stays in memory after it is handed out.
  pool.fill(0, offset, offset + ID_BYTES);
  offset += ID_BYTES;
  // One flat string (no rope of concatenations kept alive by the store's Map key).
  return String.fromCharCode.apply(null, codes);
}

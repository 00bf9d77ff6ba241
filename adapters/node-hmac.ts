/**
 * node:crypto's HMAC-SHA256 for the engine's `hmac` option: the Express and node adapters sign
 * and verify with it by default. It is synchronous and several times faster per call than Web
 * Crypto's `crypto.subtle` on Node (bench/micro.mjs), which hands every call to the thread pool.
 * @module
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { HmacSha256, Secret } from '../src/index.ts';

// One KeyObject per secret: the key is prepared once instead of on every call. Bounded, since
// secrets are few (a rotation list); an unbounded map keyed by caller input could grow forever.
const keys = new Map<Secret, KeyObject>();
const MAX_KEYS = 64;

function keyFor(secret: Secret): KeyObject {
  let key = keys.get(secret);
  if (key === undefined) {
    key = createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
    if (keys.size >= MAX_KEYS) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

/** HMAC-SHA256 through node:crypto (Node, and Bun and Deno through their node:crypto). */
export const nodeHmac: HmacSha256 = (secret, data) => createHmac('sha256', keyFor(secret)).update(data, 'utf8').digest();

/**
 * Checks every store shares: what counts as a session record, and how a TTL is read.
 * @module
 */
import { storeError } from '../errors.ts';
import type { SessionRecord } from '../store.ts';

/** True for a stored value the engine can use: an object with a `cookie` object (anything else is corrupt). */
export function isRecord(value: unknown): value is SessionRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as SessionRecord).cookie === 'object' && (value as SessionRecord).cookie !== null && !Array.isArray((value as SessionRecord).cookie);
}

/** A TTL as whole milliseconds; 0 means "already expired" (store nothing). Throws `ERR_STORE` for NaN or Infinity. */
export function ttlOf(operation: string, ttlMs: number): number {
  if (typeof ttlMs !== 'number' || Number.isNaN(ttlMs) || ttlMs === Infinity) throw storeError(operation, new RangeError(`ttlMs must be a finite number, got ${String(ttlMs)}`));
  return ttlMs <= 0 ? 0 : Math.ceil(ttlMs);
}

/**
 * Checks every store shares: how a TTL is read (what counts as a record is `isRecord` in ../store.ts).
 * @module
 */
import { storeError } from '../errors.ts';

/** A TTL as whole milliseconds; 0 means "already expired" (store nothing). Throws `ERR_STORE` for NaN or Infinity. */
export function ttlOf(operation: string, ttlMs: number): number {
  if (typeof ttlMs !== 'number' || Number.isNaN(ttlMs) || ttlMs === Infinity) throw storeError(operation, new RangeError(`ttlMs must be a finite number, got ${String(ttlMs)}`));
  return ttlMs <= 0 ? 0 : Math.ceil(ttlMs);
}

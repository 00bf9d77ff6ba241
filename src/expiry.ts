/**
 * When a stored record has expired, judged by the engine from the record itself: stores
 * may return records late (KV staleness, lazy deletion), so their TTL is only cleanup.
 * @module
 */
import type { ResolvedOptions } from './options.ts';
import type { SessionRecord } from './store.ts';

/** True when the record's cookie expiry, idle deadline or absolute deadline has passed. */
export function isRecordExpired(record: SessionRecord, now: number, options: Pick<ResolvedOptions, 'idleTimeout' | 'absoluteTimeout' | 'store'>): boolean {
  const { idleTimeout, absoluteTimeout, store } = options;
  // A TTL-only touch leaves stored timestamps behind; the store's own TTL is then the sliding expiry.
  const slidingFromRecord = store.capabilities?.touchKeepsRecord !== true;
  const expires = record.cookie?.expires;
  if (expires && slidingFromRecord) {
    const at = new Date(expires).getTime();
    if (!Number.isNaN(at) && at <= now) return true;
  }
  const meta = record._ws;
  // An idle deadline the store's TTL does not know about is checked from the record.
  const idleFromRecord = slidingFromRecord || store.capabilities?.ttlFollowsCookie === true;
  if (meta && typeof meta === 'object') {
    if (idleFromRecord && idleTimeout !== undefined && typeof meta.a === 'number' && meta.a + idleTimeout <= now) return true;
    if (absoluteTimeout !== undefined && typeof meta.c === 'number' && meta.c + absoluteTimeout <= now) return true;
  }
  return false;
}

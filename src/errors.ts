/**
 * The one error type websession throws or reports, with a stable string `code`.
 * @module
 */

/** Every code a {@link SessionError} can carry. */
export type SessionErrorCode =
  /** An option is missing, has the wrong type or an unsafe value; thrown at construction. */
  | 'ERR_CONFIG'
  /** A store call failed or timed out; `cause` holds the store's own error. */
  | 'ERR_STORE'
  /** A session value cannot be stored as JSON (BigInt, cycle, function). */
  | 'ERR_VALUE'
  /** The session was used in a way its state does not allow (e.g. after destroy). */
  | 'ERR_STATE'
  /** Headers were already sent, so the session cookie can no longer change. */
  | 'ERR_HEADERS_SENT'
  /** `reload()` found no record for the session. */
  | 'ERR_NOT_FOUND';

/** An error from websession: configuration mistakes, store failures and misuse. */
export class SessionError extends Error {
  /** A stable, machine-readable code; never branch on `message`. */
  readonly code: SessionErrorCode;

  /** Creates an error with a code, a message and an optional cause. */
  constructor(code: SessionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SessionError';
    this.code = code;
  }
}

/** Wraps any store failure as a `SessionError` with code `ERR_STORE` (an existing one passes through). */
export function storeError(operation: string, cause: unknown): SessionError {
  if (cause instanceof SessionError && cause.code === 'ERR_STORE') return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new SessionError('ERR_STORE', `store ${operation} failed: ${detail}`, { cause });
}

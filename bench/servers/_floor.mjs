// The floor of a server-side session: what reading one costs when nothing else is done. Not a
// session library (no signature, no expiry, no store contract, no commit): a Map keyed by the raw
// cookie value and a copy of the entry, as any store read returns. The floor variants use it to
// show, in the same run, how close to bare any session middleware can get on this machine.
import { randomBytes } from 'node:crypto';

const sessions = new Map();

/** A new session holding `data`; returns its `name=value` cookie, shaped like a signed websession cookie. */
export function create(data) {
  const value = `s%3A${randomBytes(32).toString('base64url')}.${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
  sessions.set(value, data);
  return `sid=${value}`;
}

/** A copy of the session named by the Cookie header, or an empty one. */
export function read(header) {
  const at = header ? header.indexOf('sid=') : -1;
  if (at < 0) return {};
  const end = header.indexOf(';', at);
  const data = sessions.get(header.slice(at + 4, end < 0 ? undefined : end));
  return data === undefined ? {} : { ...data };
}

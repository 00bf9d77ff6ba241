/**
 * Session ID generation.
 * @module
 */

/** Returns a new session ID: 32 bytes (256 bits) from the CSPRNG, base64url, 43 characters. */
export function generateSessionId(): string {
  // Called with its receiver: a detached getRandomValues throws ERR_INVALID_THIS on Node.
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

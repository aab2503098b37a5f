import { createHash } from 'node:crypto';

/** Write-only secrets are shown as a fingerprint and maybe a last-four, never in full. */

/**
 * `sha256:` + the first 16 hex digits (64 bits) of SHA-256: enough to tell
 * secrets apart or confirm a match. It is unsalted, so it only hides
 * high-entropy secrets (API keys, tokens); do not fingerprint passwords.
 */
export function fingerprintSecret(secret: string | Uint8Array): string {
  const digest = createHash('sha256').update(secret).digest('hex');
  return `sha256:${digest.slice(0, 16)}`;
}

/** Below this many characters, showing four of them gives away too much. */
export const LAST_FOUR_MIN_LENGTH = 16;

/**
 * The last four characters (code points, so a surrogate pair is never split),
 * or '' when the secret is too short for that to be safe to show.
 */
export function lastFour(secret: string): string {
  const characters = Array.from(secret);
  return characters.length < LAST_FOUR_MIN_LENGTH ? '' : characters.slice(-4).join('');
}

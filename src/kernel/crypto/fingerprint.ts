import { createHmac, hkdfSync, KeyObject } from 'node:crypto';

/** Write-only secrets are shown as a fingerprint and maybe a last-four, never in full. */

const FINGERPRINT_INFO = 'ocsuite:secret-fingerprint:v1';

/**
 * `hmac:` + the first 16 hex digits (64 bits) of HMAC-SHA256 under a key
 * derived (HKDF, RFC 5869) from the tenant's data key: enough to tell two
 * secrets of a tenant apart or confirm a match, useless for guessing a
 * low-entropy secret without the data key, and unlinkable across tenants.
 * Crypto-shredding the tenant destroys the key, so fingerprints kept in the
 * audit log stop meaning anything too. A data-key rotation changes the
 * fingerprint a re-entered secret gets; stored ones stay as they were.
 */
export function fingerprintSecret(dataKey: Uint8Array | KeyObject, secret: string | Uint8Array): string {
  const material = dataKey instanceof KeyObject ? dataKey : Buffer.from(dataKey.buffer, dataKey.byteOffset, dataKey.byteLength);
  const key = Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), FINGERPRINT_INFO, 32));
  try {
    return `hmac:${createHmac('sha256', key).update(secret).digest('hex').slice(0, 16)}`;
  } finally {
    key.fill(0);
  }
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

import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';

/**
 * TOTP (RFC 6238) over HOTP (RFC 4226) via `otpauth`: SHA-1, 6 digits, 30 s
 * steps — what authenticator apps support. A code is accepted once: the caller
 * stores the last accepted time step and passes it back (RFC 6238 §5.2 asks
 * the verifier not to accept the same code twice).
 */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
const WINDOW = 1; // one step either side for clock drift (RFC 6238 §6)

export function generateTotpSecret(): string {
  return new Secret({ buffer: randomBytes(20).buffer as ArrayBuffer }).base32;
}

function totp(secretBase32: string, label = 'OC-Suite', issuer = 'OC-Suite') {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS, secret: Secret.fromBase32(secretBase32) });
}

/** The `otpauth://` URI an authenticator app enrols from (shown once, as text or QR). */
export function totpUri(secretBase32: string, account: { label: string; issuer: string }): string {
  return totp(secretBase32, account.label, account.issuer).toString();
}

/**
 * Returns the time step the code matched, or null. A step at or before
 * `lastAcceptedStep` is refused even when the code is right (replay).
 */
export function verifyTotp(secretBase32: string, code: string, opts: { lastAcceptedStep: number | null; now?: number }): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const timestamp = opts.now ?? Date.now();
  const delta = totp(secretBase32).validate({ token: code, timestamp, window: WINDOW });
  if (delta === null) return null;
  const step = Math.floor(timestamp / 1000 / TOTP_PERIOD_SECONDS) + delta;
  if (opts.lastAcceptedStep !== null && step <= opts.lastAcceptedStep) return null;
  return step;
}

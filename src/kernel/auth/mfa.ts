import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { openWithMasterKey, sealWithMasterKey, type Keyring } from '../crypto/index.ts';
import { generateTotpSecret, totpUri, verifyTotp } from './totp.ts';

/**
 * TOTP second factor and recovery codes. The seed is a platform secret sealed
 * under the master key and bound to its row; a code is accepted once (the
 * accepted time step is advanced atomically); recovery codes carry 80 random
 * bits, are shown once and stored as SHA-256.
 */
const aadOf = (userId: string) => `user_mfa|totp_secret_sealed|${userId}`;
const RECOVERY_CODES = 10;

export type MfaState = 'none' | 'pending' | 'enabled';

export async function mfaState(tx: Session, userId: string): Promise<MfaState> {
  const [row] = await tx.query<{ confirmed: boolean }>(sql`SELECT confirmed_at IS NOT NULL AS confirmed FROM user_mfa WHERE user_id = ${userId}`);
  return !row ? 'none' : row.confirmed ? 'enabled' : 'pending';
}

/** Starts (or restarts, while unconfirmed) enrolment; the caller shows the URI once. */
export async function beginEnrolment(tx: Session, keyring: Keyring, user: { id: string; email: string }, issuer: string) {
  const secret = generateTotpSecret();
  const rows = await tx.query(sql`
    INSERT INTO user_mfa (user_id, totp_secret_sealed) VALUES (${user.id}, ${sealWithMasterKey(keyring, aadOf(user.id), secret)})
    ON CONFLICT (user_id) DO UPDATE SET totp_secret_sealed = EXCLUDED.totp_secret_sealed, last_step = NULL
      WHERE user_mfa.confirmed_at IS NULL
    RETURNING user_id`);
  if (rows.length === 0) return null; // already enabled
  return { secret, otpauthUri: totpUri(secret, { label: user.email, issuer }) };
}

function newRecoveryCode(): string {
  // 12 bytes → 16 base64url characters → four groups of four (≈ 83 bits after lower-casing).
  const raw = randomBytes(12).toString('base64url').replace(/[-_]/g, 'x').slice(0, 16).toLowerCase();
  return raw.match(/.{4}/g)!.join('-');
}
const hashRecoveryCode = (code: string) => createHash('sha256').update(code.trim().toLowerCase().replaceAll('-', '')).digest('hex');

/** Checks a TOTP code and consumes its time step; true at most once per step. */
export async function acceptTotp(tx: Session, keyring: Keyring, userId: string, code: string, opts: { requireConfirmed: boolean; now?: number }): Promise<boolean> {
  const [row] = await tx.query<{ sealed: string; last_step: string | number | null; confirmed: boolean }>(sql`
    SELECT totp_secret_sealed AS sealed, last_step, confirmed_at IS NOT NULL AS confirmed FROM user_mfa WHERE user_id = ${userId} FOR UPDATE`);
  if (!row || (opts.requireConfirmed && !row.confirmed)) return false;
  const secret = openWithMasterKey(keyring, aadOf(userId), row.sealed).toString('utf8');
  const step = verifyTotp(secret, code, { lastAcceptedStep: row.last_step === null ? null : Number(row.last_step), ...(opts.now ? { now: opts.now } : {}) });
  if (step === null) return false;
  const advanced = await tx.query(sql`
    UPDATE user_mfa SET last_step = ${step} WHERE user_id = ${userId} AND (last_step IS NULL OR last_step < ${step}) RETURNING user_id`);
  return advanced.length === 1;
}

/** Confirms enrolment with a first code and returns the recovery codes (shown once). */
export async function confirmEnrolment(tx: Session, keyring: Keyring, userId: string, code: string): Promise<string[] | 'not-pending' | null> {
  // Only a pending enrolment is confirmed: an enabled factor is never re-confirmed (that would hand out new recovery codes).
  if ((await mfaState(tx, userId)) !== 'pending') return 'not-pending';
  if (!(await acceptTotp(tx, keyring, userId, code, { requireConfirmed: false }))) return null;
  await tx.query(sql`UPDATE user_mfa SET confirmed_at = now() WHERE user_id = ${userId}`);
  return replaceRecoveryCodes(tx, userId);
}

export async function replaceRecoveryCodes(tx: Session, userId: string): Promise<string[]> {
  await tx.query(sql`DELETE FROM mfa_recovery_codes WHERE user_id = ${userId}`);
  const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
  for (const code of codes) {
    await tx.query(sql`INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (${userId}, ${hashRecoveryCode(code)})`);
  }
  return codes;
}

/** A recovery code works once. */
export async function acceptRecoveryCode(tx: Session, userId: string, code: string): Promise<boolean> {
  if (!/^[a-z0-9x]{4}(-?[a-z0-9x]{4}){3}$/i.test(code.trim())) return false;
  const rows = await tx.query(sql`
    UPDATE mfa_recovery_codes SET used_at = now()
    WHERE user_id = ${userId} AND code_hash = ${hashRecoveryCode(code)} AND used_at IS NULL RETURNING user_id`);
  return rows.length === 1;
}

/** Either factor: a 6-digit TOTP code or a recovery code. */
export async function acceptSecondFactor(tx: Session, keyring: Keyring, userId: string, code: string): Promise<'totp' | 'recovery' | null> {
  if (/^\d{6}$/.test(code)) return (await acceptTotp(tx, keyring, userId, code, { requireConfirmed: true })) ? 'totp' : null;
  return (await acceptRecoveryCode(tx, userId, code)) ? 'recovery' : null;
}

export async function removeMfa(tx: Session, userId: string): Promise<void> {
  await tx.query(sql`DELETE FROM mfa_recovery_codes WHERE user_id = ${userId}`);
  await tx.query(sql`DELETE FROM user_mfa WHERE user_id = ${userId}`);
}

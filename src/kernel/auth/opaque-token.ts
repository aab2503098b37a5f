import { createHash, randomBytes } from 'node:crypto';

/**
 * Opaque bearer secrets (refresh tokens, invitation tokens): 256 random bits with
 * a recognisable prefix so secret scanners find leaked ones. Only the SHA-256
 * is stored; with this much entropy a salt or slow hash adds nothing.
 */
export function newOpaqueToken(prefix: 'ocs_rt' | 'ocs_inv' | 'ocs_ak' | 'ocs_mt' | 'ocs_pr' | 'ocs_ev' | 'ocs_su'): { token: string; hash: string } {
  const token = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashOpaqueToken(token) };
}

export function hashOpaqueToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export const OPAQUE_TOKEN_PATTERN = '^ocs_(rt|inv)_[A-Za-z0-9_-]{43}$';
/** MFA tickets, password-reset and email-verification tokens. */
export const tokenPattern = (prefix: 'ocs_mt' | 'ocs_pr' | 'ocs_ev' | 'ocs_su') => `^${prefix}_[A-Za-z0-9_-]{43}$`;

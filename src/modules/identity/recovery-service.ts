import { sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import { ProblemError } from '../../http/problem.ts';
import { QueueFullError } from '../../kernel/jobs/errors.ts';
import { recordAuditEvent } from '../../kernel/audit/events.ts';
import { hashOpaqueToken, newOpaqueToken } from '../../kernel/auth/opaque-token.ts';
import { assertPasswordAcceptable, hashPassword } from '../../kernel/auth/passwords.ts';
import { claimAttempt, countRequest, IP_POLICY, recordFailure, releaseAttempt, secondsLocked, throttleKey } from '../../kernel/limits/login-throttle.ts';
import { enqueueMail, MAIL_QUEUE } from '../../kernel/mail/delivery.ts';
import type { Platform } from '../../kernel/platform.ts';
import { revokeUserSessions } from './sessions.ts';

const TOKEN_TTL_SECONDS = 1800;
const invalidToken = () => new ProblemError('invalid-token', 401, 'The link is invalid, expired or already used.');
type Purpose = 'password-reset' | 'email-verification';

/**
 * Password reset and email verification by mailed, single-use, 30-minute
 * tokens stored as SHA-256. `onSessionsRevoked` lets this node drop the
 * sessions a reset ended from its cache at once.
 */
export function createRecoveryService(platform: Platform, opts: { log: FastifyBaseLogger; onSessionsRevoked: (ids: string[]) => void }) {
  /**
   * Stores a one-time token and queues its mail. A full mail queue stores nothing: the caller
   * answers as for an unknown address (a 503 here would tell who has an account).
   */
  async function sendToken(user: { id: string; email: string }, purpose: Purpose): Promise<void> {
    const { token, hash } = newOpaqueToken(purpose === 'password-reset' ? 'ocs_pr' : 'ocs_ev');
    const path = purpose === 'password-reset' ? 'reset-password' : 'verify-email';
    const link = `${platform.config.publicUrl}/${path}#token=${token}`;
    try {
      await platform.jobs.assertRoom(MAIL_QUEUE.name);
      // The token and its mail (an outbox row) commit together or not at all.
      await platform.withIdentity(async (tx) => {
        await tx.query(sql`
          INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at) VALUES (${hash}, ${user.id}, ${purpose}, now() + make_interval(secs => ${TOKEN_TTL_SECONDS}))`);
        await enqueueMail(platform.jobs, platform.keyring, {
          to: user.email,
          subject: purpose === 'password-reset' ? 'Reset your OC-Suite password' : 'Confirm your OC-Suite email address',
          text: `${purpose === 'password-reset' ? 'Someone asked to reset the password of this account.' : 'Confirm this address for your OC-Suite account.'}\n\n${link}\n\nThe link works once and expires in 30 minutes. If this was not you, ignore this mail.`,
        }, tx);
      });
    } catch (err) {
      // Refused: nothing was stored (the transaction rolled back), the answer stays the same.
      if (!(err instanceof QueueFullError)) throw err;
      opts.log.warn({ purpose }, 'mail queue full: a one-time token was not sent');
    }
  }

  /** Consumes a token of `purpose`; throttled per IP so guessing is pointless as well as hopeless. */
  async function consume(token: string, purpose: Purpose, ip: string): Promise<string> {
    const key = throttleKey.ip(ip);
    await claimAttempt(platform.withIdentity, [{ key, policy: IP_POLICY }]);
    const [row] = await platform.withIdentity(async (tx) => {
      const used = await tx.query<{ user_id: string }>(sql`
        UPDATE user_tokens SET used_at = now()
        WHERE token_hash = ${hashOpaqueToken(token)} AND purpose = ${purpose} AND used_at IS NULL AND expires_at > now()
        RETURNING user_id`);
      if (used.length > 0) await releaseAttempt(tx, key);
      return used;
    });
    if (!row) {
      await platform.withIdentity((tx) => recordFailure(tx, key, IP_POLICY));
      throw invalidToken();
    }
    return row.user_id;
  }

  return {
    /** Mails a reset link if an account with a password has this address; the caller answers the same either way. */
    async requestPasswordReset(email: string): Promise<void> {
      const key = throttleKey.reset(email);
      const locked = await platform.withIdentity((tx) => secondsLocked(tx, [key]));
      const [user] = locked > 0 ? [] : await platform.withIdentity(async (tx) => {
        // Every request counts, so one address cannot be flooded with mail.
        await countRequest(tx, key, { maxFailures: 5, windowSeconds: 3600, baseLockSeconds: 900, maxLockSeconds: 3600 });
        return tx.query<{ id: string; email: string }>(sql`SELECT id, email FROM users WHERE email_normalized = lower(${email}) AND password_hash IS NOT NULL`);
      });
      if (user) await sendToken(user, 'password-reset');
    },

    /** Sets a new password by a reset token and ends every session of the user. */
    async resetPassword(token: string, password: string, ip: string): Promise<void> {
      // The policy knows the account's email (a password derived from it is refused): read, not consumed, here.
      const [owner] = await platform.withIdentity((tx) => tx.query<{ email: string }>(sql`
        SELECT u.email FROM user_tokens k JOIN users u ON u.id = k.user_id
        WHERE k.token_hash = ${hashOpaqueToken(token)} AND k.purpose = 'password-reset' AND k.used_at IS NULL AND k.expires_at > now()`));
      assertPasswordAcceptable(password, owner ? { email: owner.email } : {});
      const passwordHash = await hashPassword(password);
      const userId = await consume(token, 'password-reset', ip);
      const revoked = await platform.withIdentity(async (tx) => {
        await tx.query(sql`UPDATE users SET password_hash = ${passwordHash}, updated_at = now() WHERE id = ${userId}`);
        await tx.query(sql`UPDATE user_tokens SET used_at = now() WHERE user_id = ${userId} AND purpose = 'password-reset' AND used_at IS NULL`);
        const ended = await revokeUserSessions(tx, userId, 'password-reset');
        // An account spans tenants: the reset is an event of the platform log.
        await recordAuditEvent(tx, {
          tenantId: null, actor: { type: 'user', id: userId }, action: 'auth.password_reset', target: { type: 'user', id: userId },
          outcome: 'success', metadata: { sessionsEnded: ended.length },
        });
        return ended;
      });
      opts.onSessionsRevoked(revoked);
    },

    /** Mails a confirmation link unless the user's address is already confirmed. */
    async requestEmailVerification(userId: string): Promise<void> {
      const [user] = await platform.withIdentity((tx) => tx.query<{ id: string; email: string }>(sql`
        SELECT id, email FROM users WHERE id = ${userId} AND email_verified_at IS NULL`));
      if (user) await sendToken(user, 'email-verification');
    },

    async verifyEmail(token: string, ip: string): Promise<void> {
      const userId = await consume(token, 'email-verification', ip);
      await platform.withIdentity((tx) => tx.query(sql`UPDATE users SET email_verified_at = now() WHERE id = ${userId} AND email_verified_at IS NULL`));
    },
  };
}

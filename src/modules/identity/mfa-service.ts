import { sql } from 'drizzle-orm';
import { conflict, ProblemError } from '../../http/problem.ts';
import { acceptSecondFactor, beginEnrolment, confirmEnrolment, removeMfa, replaceRecoveryCodes } from '../../kernel/auth/mfa.ts';
import { verifyPassword } from '../../kernel/auth/passwords.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { ACCOUNT_POLICY, claimAttempt, recordFailure, recordSuccess, releaseClaims, throttleKey } from '../../kernel/limits/login-throttle.ts';
import type { Platform } from '../../kernel/platform.ts';
import { forgetSecondFactorProofs, markSecondFactorProven } from './sessions.ts';

// 403, not 401: the caller's token is fine; only the code is wrong (a 401 would make clients refresh).
const wrongCode = () => new ProblemError('invalid-credentials', 403, 'The code is not right.');

const signedIn = (p: Principal) => {
  if (!p.userId || !p.sessionId) throw new ProblemError('forbidden', 403, 'Only a signed-in user has a second factor.');
  return { userId: p.userId, sessionId: p.sessionId };
};

/**
 * The signed-in user's second factor. Every code or password checked here is
 * throttled per user like login. `onSessionChanged` lets this node drop a
 * session whose proof of a second factor changed from its cache at once.
 */
export function createMfaService(platform: Platform, onSessionChanged: (sessionId: string) => void = () => {}) {
  /** Checks a code for the signed-in user; marks the session as freshly verified. */
  async function proveSecondFactor(p: Principal, code: string): Promise<void> {
    const { userId, sessionId } = signedIn(p);
    const key = throttleKey.mfa(userId);
    await claimAttempt(platform.withIdentity, [{ key, policy: ACCOUNT_POLICY }]);
    const ok = await platform.withIdentity(async (tx) => {
      if (!(await acceptSecondFactor(tx, platform.keyring, userId, code))) return false;
      await recordSuccess(tx, key);
      await markSecondFactorProven(tx, sessionId);
      return true;
    });
    if (!ok) {
      await platform.withIdentity((tx) => recordFailure(tx, key, ACCOUNT_POLICY));
      throw wrongCode();
    }
    onSessionChanged(sessionId);
  }

  return {
    /** Step-up: a fresh code proves the second factor for sensitive actions. */
    stepUp: proveSecondFactor,

    /**
     * Starts an enrolment (the TOTP secret, shown once). It needs the password too: a stolen
     * access token alone must not be able to attach the attacker's authenticator (which would
     * then satisfy step-up).
     */
    async enrol(p: Principal, password: string) {
      const { userId } = signedIn(p);
      const key = throttleKey.mfa(userId);
      await claimAttempt(platform.withIdentity, [{ key, policy: ACCOUNT_POLICY }]);
      const [stored] = await platform.withIdentity((tx) => tx.query<{ password_hash: string | null }>(sql`SELECT password_hash FROM users WHERE id = ${userId}`));
      if (!(await verifyPassword(stored?.password_hash, password))) {
        await platform.withIdentity((tx) => recordFailure(tx, key, ACCOUNT_POLICY));
        throw new ProblemError('invalid-credentials', 403, 'The password is not right.');
      }
      await platform.withIdentity((tx) => recordSuccess(tx, key));
      const enrolment = await platform.withTenant(contextOf(p), async (tx) => {
        const [user] = await tx.query<{ email: string }>(sql`SELECT email FROM users WHERE id = ${userId}`);
        return beginEnrolment(tx, platform.keyring, { id: userId, email: user!.email }, 'OC-Suite');
      });
      if (!enrolment) throw conflict('A second factor is already enabled; disable it first.');
      return enrolment;
    },

    /** Confirms the pending enrolment with a first code; returns the recovery codes (shown once). */
    async confirm(p: Principal, code: string): Promise<string[]> {
      const { userId, sessionId } = signedIn(p);
      const key = throttleKey.mfa(userId);
      await claimAttempt(platform.withIdentity, [{ key, policy: ACCOUNT_POLICY }]);
      const codes = await platform.withTenant(contextOf(p), async (tx) => {
        const result = await confirmEnrolment(tx, platform.keyring, userId, code);
        if (Array.isArray(result)) {
          await markSecondFactorProven(tx, sessionId);
          await recordAuditEvent(tx, { tenantId: p.tenantId, actor: auditActorOf(p), action: 'mfa.enabled', target: { type: 'user', id: userId }, outcome: 'success' });
        }
        return result;
      });
      if (codes === 'not-pending') {
        await releaseClaims(platform.withIdentity, [key]); // no code was checked
        throw conflict('There is no enrolment waiting for confirmation.');
      }
      if (!codes) {
        await platform.withIdentity((tx) => recordFailure(tx, key, ACCOUNT_POLICY));
        throw wrongCode();
      }
      await platform.withIdentity((tx) => recordSuccess(tx, key));
      onSessionChanged(sessionId);
      return codes;
    },

    /** New recovery codes (the old ones stop working); needs a fresh code. */
    async newRecoveryCodes(p: Principal, code: string): Promise<string[]> {
      await proveSecondFactor(p, code);
      return platform.withTenant(contextOf(p), async (tx) => {
        const fresh = await replaceRecoveryCodes(tx, p.userId!);
        await recordAuditEvent(tx, { tenantId: p.tenantId, actor: auditActorOf(p), action: 'mfa.recovery_codes_replaced', target: { type: 'user', id: p.userId! }, outcome: 'success' });
        return fresh;
      });
    },

    /** Removes the second factor; needs a fresh code. */
    async disable(p: Principal, code: string): Promise<void> {
      await proveSecondFactor(p, code);
      await platform.withTenant(contextOf(p), async (tx) => {
        await removeMfa(tx, p.userId!);
        await forgetSecondFactorProofs(tx, p.userId!);
        await recordAuditEvent(tx, { tenantId: p.tenantId, actor: auditActorOf(p), action: 'mfa.disabled', target: { type: 'user', id: p.userId! }, outcome: 'success' });
      });
      onSessionChanged(p.sessionId!);
    },

    /** A tenant owner can require MFA for admins and owners. */
    async setTenantPolicy(p: Principal, requiredForAdmins: boolean): Promise<void> {
      await platform.withTenant(contextOf(p), async (tx) => {
        await tx.query(sql`UPDATE tenants SET mfa_required_for_admins = ${requiredForAdmins} WHERE id = ${p.tenantId}`);
        await recordAuditEvent(tx, {
          tenantId: p.tenantId, actor: auditActorOf(p), action: 'tenant.mfa_policy_changed', target: { type: 'tenant', id: p.tenantId },
          outcome: 'success', metadata: { requiredForAdmins },
        });
      });
    },
  };
}

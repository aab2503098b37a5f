import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { sql } from 'drizzle-orm';
import { principalOf } from '../../http/authenticate.ts';
import { conflict, ProblemError } from '../../http/problem.ts';
import { acceptSecondFactor, beginEnrolment, confirmEnrolment, removeMfa, replaceRecoveryCodes } from '../../kernel/auth/mfa.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { claimAttempt, recordFailure, recordSuccess, releaseClaims, throttleKey, ACCOUNT_POLICY } from '../../kernel/limits/login-throttle.ts';
import type { Platform } from '../../platform.ts';
import * as S from './schemas.ts';
import { verifyPassword } from '../../kernel/auth/passwords.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';

const NoContent = { 204: Type.Null() };
// 403, not 401: the caller's token is fine; only the code is wrong (a 401 would make clients refresh).
const wrongCode = () => new ProblemError('invalid-credentials', 403, 'The code is not right.');

/**
 * MFA for the signed-in user: enrol (TOTP secret shown once), confirm (returns
 * recovery codes once), step-up, new recovery codes and disable — the last two
 * need a fresh code. A tenant owner can require MFA for admins and owners.
 */
export const mfaRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const tags = ['mfa'];
  const self = (p: Principal) => {
    if (!p.userId || !p.sessionId) throw new ProblemError('forbidden', 403, 'Only a signed-in user has a second factor.');
    return { userId: p.userId, sessionId: p.sessionId };
  };

  /** Checks a code for the signed-in user, throttled like login; marks the session as freshly verified. */
  async function proveSecondFactor(p: Principal, code: string): Promise<void> {
    const { userId, sessionId } = self(p);
    const key = throttleKey.mfa(userId);
    await claimAttempt(platform.withIdentity, [{ key, policy: ACCOUNT_POLICY }]);
    const ok = await platform.withIdentity(async (tx) => {
      if (!(await acceptSecondFactor(tx, platform.keyring, userId, code))) return false;
      await recordSuccess(tx, key);
      await tx.query(sql`UPDATE sessions SET mfa_at = now() WHERE id = ${sessionId}`);
      return true;
    });
    if (!ok) {
      await platform.withIdentity((tx) => recordFailure(tx, key, ACCOUNT_POLICY));
      throw wrongCode();
    }
    app.forgetSession(sessionId);
  }

  // Enrolling needs the password too: a stolen access token alone must not be able to
  // attach the attacker's authenticator (which would then satisfy step-up).
  app.post('/auth/mfa/enrol', {
    config: { security: { policy: { permission: 'session' }, rateClass: 'auth' } },
    schema: { tags, body: S.MfaEnrolBody, response: { 201: S.MfaEnrolment } },
  }, async (req, reply) => {
    const p = principalOf(req);
    const { userId } = self(p);
    const key = throttleKey.mfa(userId);
    await claimAttempt(platform.withIdentity, [{ key, policy: ACCOUNT_POLICY }]);
    const [stored] = await platform.withIdentity((tx) => tx.query<{ password_hash: string | null }>(sql`SELECT password_hash FROM users WHERE id = ${userId}`));
    if (!(await verifyPassword(stored?.password_hash, req.body.password))) {
      await platform.withIdentity((tx) => recordFailure(tx, key, ACCOUNT_POLICY));
      throw new ProblemError('invalid-credentials', 403, 'The password is not right.');
    }
    await platform.withIdentity((tx) => recordSuccess(tx, key));
    const enrolment = await platform.withTenant(contextOf(p), async (tx) => {
      const [user] = await tx.query<{ email: string }>(sql`SELECT email FROM users WHERE id = ${userId}`);
      return beginEnrolment(tx, platform.keyring, { id: userId, email: user!.email }, 'OC-Suite');
    });
    if (!enrolment) throw conflict('A second factor is already enabled; disable it first.');
    reply.header('cache-control', 'no-store');
    return reply.code(201).send(enrolment);
  });

  app.post('/auth/mfa/confirm', {
    config: { security: { policy: { permission: 'session' }, rateClass: 'auth' } },
    schema: { tags, body: S.MfaCodeBody, response: { 200: S.RecoveryCodes } },
  }, async (req, reply) => {
    const p = principalOf(req);
    const { userId, sessionId } = self(p);
    const key = throttleKey.mfa(userId);
    await claimAttempt(platform.withIdentity, [{ key, policy: ACCOUNT_POLICY }]);
    const codes = await platform.withTenant(contextOf(p), async (tx) => {
      const result = await confirmEnrolment(tx, platform.keyring, userId, req.body.code);
      if (Array.isArray(result)) {
        await tx.query(sql`UPDATE sessions SET mfa_at = now() WHERE id = ${sessionId}`);
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
    app.forgetSession(sessionId);
    reply.header('cache-control', 'no-store');
    return { recoveryCodes: codes };
  });

  app.post('/auth/mfa/step-up', {
    config: { security: { policy: { permission: 'session' }, rateClass: 'auth' } },
    schema: { tags, body: S.MfaCodeBody, response: NoContent },
  }, async (req, reply) => {
    await proveSecondFactor(principalOf(req), req.body.code);
    return reply.code(204).send(null);
  });

  app.post('/auth/mfa/recovery-codes', {
    config: { security: { policy: { permission: 'session' }, rateClass: 'auth' } },
    schema: { tags, body: S.MfaCodeBody, response: { 200: S.RecoveryCodes } },
  }, async (req, reply) => {
    const p = principalOf(req);
    await proveSecondFactor(p, req.body.code);
    const codes = await platform.withTenant(contextOf(p), async (tx) => {
      const fresh = await replaceRecoveryCodes(tx, p.userId!);
      await recordAuditEvent(tx, { tenantId: p.tenantId, actor: auditActorOf(p), action: 'mfa.recovery_codes_replaced', target: { type: 'user', id: p.userId! }, outcome: 'success' });
      return fresh;
    });
    reply.header('cache-control', 'no-store');
    return { recoveryCodes: codes };
  });

  app.post('/auth/mfa/disable', {
    config: { security: { policy: { permission: 'session' }, rateClass: 'auth' } },
    schema: { tags, body: S.MfaCodeBody, response: NoContent },
  }, async (req, reply) => {
    const p = principalOf(req);
    await proveSecondFactor(p, req.body.code);
    await platform.withTenant(contextOf(p), async (tx) => {
      await removeMfa(tx, p.userId!);
      // Without a factor, no session of the user holds a proven one any more (MFA policy, step-up).
      await tx.query(sql`UPDATE sessions SET mfa_at = NULL WHERE user_id = ${p.userId!}`);
      await recordAuditEvent(tx, { tenantId: p.tenantId, actor: auditActorOf(p), action: 'mfa.disabled', target: { type: 'user', id: p.userId! }, outcome: 'success' });
    });
    app.forgetSession(p.sessionId!);
    return reply.code(204).send(null);
  });

  app.put('/tenant/mfa-policy', {
    config: { security: { policy: { permission: 'tenant:manage' }, stepUp: true } },
    schema: { tags, body: S.MfaPolicyBody, response: NoContent },
  }, async (req, reply) => {
    const p = principalOf(req);
    await platform.withTenant(contextOf(p), async (tx) => {
      await tx.query(sql`UPDATE tenants SET mfa_required_for_admins = ${req.body.requiredForAdmins} WHERE id = ${p.tenantId}`);
      await recordAuditEvent(tx, {
        tenantId: p.tenantId, actor: auditActorOf(p), action: 'tenant.mfa_policy_changed', target: { type: 'tenant', id: p.tenantId },
        outcome: 'success', metadata: { requiredForAdmins: req.body.requiredForAdmins },
      });
    });
    return reply.code(204).send(null);
  });
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createMfaService } from './mfa-service.ts';
import * as S from './schemas.ts';

const NoContent = { 204: Type.Null() };

/**
 * MFA for the signed-in user: enrol (TOTP secret shown once), confirm (returns
 * recovery codes once), step-up, new recovery codes and disable — the last two
 * need a fresh code. A tenant owner can require MFA for admins and owners.
 */
export const mfaRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const tags = ['mfa'];
  const mfa = createMfaService(platform, (id) => app.forgetSession(id));

  app.post('/auth/mfa/enrol', {
    config: { security: { policy: { permission: 'session' }, rateClass: 'auth' }, problems: [409] },
    schema: { tags, operationId: 'identityEnrolMfa', summary: 'Start TOTP enrolment (the secret is shown once)', body: S.MfaEnrolBody, response: { 201: S.MfaEnrolment } },
  }, async (req, reply) => {
    const enrolment = await mfa.enrol(principalOf(req), req.body.password);
    reply.header('cache-control', 'no-store');
    return reply.code(201).send(enrolment);
  });

  app.post('/auth/mfa/confirm', {
    config: { security: { policy: { permission: 'session' }, rateClass: 'auth' }, problems: [409] },
    schema: { tags, operationId: 'identityConfirmMfa', summary: 'Confirm TOTP enrolment with a code; returns recovery codes once', body: S.MfaCodeBody, response: { 200: S.RecoveryCodes } },
  }, async (req, reply) => {
    const codes = await mfa.confirm(principalOf(req), req.body.code);
    reply.header('cache-control', 'no-store');
    return { recoveryCodes: codes };
  });

  app.post('/auth/mfa/step-up', {
    config: { security: { policy: { permission: 'session' }, rateClass: 'auth' } },
    schema: { tags, operationId: 'identityStepUp', summary: 'Prove the second factor again for sensitive operations', body: S.MfaCodeBody, response: NoContent },
  }, async (req, reply) => {
    await mfa.stepUp(principalOf(req), req.body.code);
    return reply.code(204).send(null);
  });

  app.post('/auth/mfa/recovery-codes', {
    config: { security: { policy: { permission: 'session' }, rateClass: 'auth' }, problems: [409] },
    schema: { tags, operationId: 'identityRenewRecoveryCodes', summary: 'Replace the recovery codes (needs a fresh code)', body: S.MfaCodeBody, response: { 200: S.RecoveryCodes } },
  }, async (req, reply) => {
    const codes = await mfa.newRecoveryCodes(principalOf(req), req.body.code);
    reply.header('cache-control', 'no-store');
    return { recoveryCodes: codes };
  });

  app.post('/auth/mfa/disable', {
    config: { security: { policy: { permission: 'session' }, rateClass: 'auth' }, problems: [409] },
    schema: { tags, operationId: 'identityDisableMfa', summary: 'Turn the second factor off (needs a fresh code)', body: S.MfaCodeBody, response: NoContent },
  }, async (req, reply) => {
    await mfa.disable(principalOf(req), req.body.code);
    return reply.code(204).send(null);
  });

  app.put('/tenant/mfa-policy', {
    config: { security: { policy: { permission: 'tenant:manage' }, stepUp: true } },
    schema: { tags, operationId: 'identitySetMfaPolicy', summary: 'Require a second factor for the tenant\'s admins and owners (step-up)', body: S.MfaPolicyBody, response: NoContent },
  }, async (req, reply) => {
    await mfa.setTenantPolicy(principalOf(req), req.body.requiredForAdmins);
    return reply.code(204).send(null);
  });
};

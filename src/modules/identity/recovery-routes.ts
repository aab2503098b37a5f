import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import { ProblemError } from '../../http/problem.ts';
import { tokenPattern } from '../../kernel/auth/opaque-token.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createRecoveryService } from './recovery-service.ts';
import { Email, Password } from './schemas.ts';

const strict = { additionalProperties: false } as const;
const Accepted = Type.Object({ status: Type.Literal('accepted'), detail: Type.String() });

/**
 * Password reset and email verification by mailed, single-use, 30-minute
 * tokens stored as SHA-256. A reset request answers the same whether or not
 * the account exists; a completed reset ends every session of the user.
 */
export const recoveryRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const tags = ['identity'];
  const accepted = { status: 'accepted' as const, detail: 'If an account exists for this address, a link is on its way.' };
  const recovery = createRecoveryService(platform, { log: app.log, onSessionsRevoked: (ids) => ids.forEach((id) => app.forgetSession(id)) });

  app.post('/auth/password-reset', {
    config: { security: { policy: 'public', rateClass: 'auth' } },
    schema: { tags, operationId: 'identityRequestPasswordReset', summary: 'Mail a password-reset link (same answer whether the account exists or not)', body: Type.Object({ email: Email }, strict), response: { 202: Accepted } },
  }, async (req, reply) => {
    await recovery.requestPasswordReset(req.body.email);
    return reply.code(202).send(accepted);
  });

  app.post('/auth/password-reset/confirm', {
    config: { security: { policy: 'public', rateClass: 'auth' }, problems: [401] },
    schema: { tags, operationId: 'identityResetPassword', summary: 'Set a new password with a reset token; ends every session', body: Type.Object({ token: Type.String({ pattern: tokenPattern('ocs_pr') }), password: Password }, strict), response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await recovery.resetPassword(req.body.token, req.body.password, req.ip);
    return reply.code(204).send(null);
  });

  app.post('/auth/email/verification', {
    config: { security: { policy: { permission: 'session' }, rateClass: 'auth' } },
    schema: { tags, operationId: 'identityRequestEmailVerification', summary: 'Mail a link confirming the caller\'s email address', response: { 202: Accepted } },
  }, async (req, reply) => {
    const p = principalOf(req);
    if (!p.userId) throw new ProblemError('forbidden', 403, 'Only a signed-in user has an email address.');
    await recovery.requestEmailVerification(p.userId);
    return reply.code(202).send({ status: 'accepted', detail: 'A confirmation link is on its way if the address is not yet confirmed.' });
  });

  app.post('/auth/email/verify', {
    config: { security: { policy: 'public', rateClass: 'auth' }, problems: [401] },
    schema: { tags, operationId: 'identityVerifyEmail', summary: 'Confirm an email address with a mailed token', body: Type.Object({ token: Type.String({ pattern: tokenPattern('ocs_ev') }) }, strict), response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await recovery.verifyEmail(req.body.token, req.ip);
    return reply.code(204).send(null);
  });
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import { notFound, ProblemError } from '../../http/problem.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createDiscourseConfigService } from './config-service.ts';
import * as S from './schemas.ts';
import { createDiscourseSsoService, SsoRefusedError } from './sso-service.ts';

/** The tenant's DiscourseConnect configuration, and the signed-in shortcut of the SSO flow. */
export const discourseRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const config = createDiscourseConfigService(platform);
  const sso = createDiscourseSsoService(platform);
  const tags = ['discourse'];
  const manage = { policy: { permission: 'discourse:manage' } } as const;

  app.get('/integrations/discourse', {
    config: { security: manage },
    schema: { tags, operationId: 'discourseGetIntegration', summary: 'The DiscourseConnect configuration (never the secrets), or configured: false', response: { 200: S.IntegrationState } },
  }, async (req) => config.get(principalOf(req)));

  app.put('/integrations/discourse', {
    config: { security: manage, problems: [400] },
    schema: {
      tags, operationId: 'discoursePutIntegration', summary: 'Configure DiscourseConnect: origin, shared secret (shown once), group and admin mapping, logout sync',
      body: S.PutIntegration, response: { 200: S.PutAnswer },
    },
  }, async (req) => config.put(principalOf(req), req.body));

  app.delete('/integrations/discourse', {
    config: { security: manage, problems: [404] },
    schema: { tags, operationId: 'discourseDeleteIntegration', summary: 'Remove the DiscourseConnect configuration and its secrets', response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await config.remove(principalOf(req));
    return reply.code(204).send(null);
  });

  app.post('/integrations/discourse/sso', {
    config: { security: { policy: { permission: 'session' } }, problems: [400, 403, 404] },
    schema: {
      tags, operationId: 'discourseSignInWithSession', summary: 'Answer a DiscourseConnect request for the signed-in user: the signed redirect back to Discourse',
      body: S.SsoBody, response: { 200: S.SsoRedirect },
    },
  }, async (req) => {
    const principal = principalOf(req);
    if (!principal.userId || principal.kind !== 'user') throw new ProblemError('forbidden', 403, 'Only a person signs in to Discourse.');
    try {
      const redirectUrl = await sso.answer(principal.tenantId, req.body.sso, req.body.sig, { userId: principal.userId, mfa: principal.mfaAt !== null, via: 'session' });
      return { redirectUrl };
    } catch (err) {
      if (!(err instanceof SsoRefusedError)) throw err;
      if (err.reason === 'not-configured' || err.reason === 'not-a-member') throw notFound('discourse integration');
      if (err.reason === 'mfa-required') throw new ProblemError('mfa-required', 403, 'Prove a second factor in this session first (the tenant requires it of privileged people).');
      // Not `forbidden`: the caller may use this route; what Discourse sent is what is refused.
      throw new ProblemError('validation-failed', 400, `The DiscourseConnect request is refused (${err.reason}).`, { extensions: { reason: err.reason } });
    }
  });
};

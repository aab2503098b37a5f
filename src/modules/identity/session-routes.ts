import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import { notFound, ProblemError } from '../../http/problem.ts';
import type { Platform } from '../../kernel/platform.ts';
import { listLiveSessions, revokeMemberSessions, revokeOwnSession } from './sessions.ts';

const strict = { additionalProperties: false } as const;
const SessionView = Type.Object({
  id: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.String({ format: 'date-time' }),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean(),
});

/** Users list and end their own sessions; admins end a member's sessions (never a higher role's). */
export const sessionRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const tags = ['sessions'];

  app.get('/sessions', {
    config: { security: { policy: { permission: 'session' } } },
    schema: { tags, operationId: 'identityListSessions', summary: 'List the caller\'s live sessions', response: { 200: Type.Object({ items: Type.Array(SessionView) }) } },
  }, async (req) => {
    const p = principalOf(req);
    if (!p.userId) throw new ProblemError('forbidden', 403, 'Only a signed-in user has sessions.');
    const sessions = await listLiveSessions(platform, p);
    return {
      items: sessions.map((s) => ({
        id: s.id, createdAt: s.createdAt.toISOString(), lastUsedAt: s.lastUsedAt.toISOString(),
        userAgent: s.userAgent, ip: s.ip, current: s.id === p.sessionId,
      })),
    };
  });

  app.delete('/sessions/:id', {
    config: { security: { policy: { permission: 'session' } }, problems: [404] },
    schema: { tags, operationId: 'identityRevokeSession', summary: 'End one of the caller\'s sessions', params: Type.Object({ id: Type.String({ format: 'uuid' }) }, strict), response: { 204: Type.Null() } },
  }, async (req, reply) => {
    if (!(await revokeOwnSession(platform, principalOf(req), req.params.id))) throw notFound('session');
    app.forgetSession(req.params.id);
    return reply.code(204).send(null);
  });

  app.delete('/members/:userId/sessions', {
    config: { security: { policy: { permission: 'members:manage' } }, problems: [404] },
    schema: { tags, operationId: 'identityRevokeMemberSessions', summary: 'End every session of a member', params: Type.Object({ userId: Type.String({ format: 'uuid' }) }, strict), response: { 204: Type.Null() } },
  }, async (req, reply) => {
    const revoked = await revokeMemberSessions(platform, principalOf(req), req.params.userId);
    revoked.forEach((id) => app.forgetSession(id));
    return reply.code(204).send(null);
  });
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { sql } from 'drizzle-orm';
import { principalOf } from '../../http/authenticate.ts';
import { notFound, ProblemError } from '../../http/problem.ts';
import { assertMayAssign } from '../../kernel/access/assignment.ts';
import { isRole } from '../../kernel/access/permissions.ts';
import { contextOf } from '../../kernel/auth/principal.ts';
import type { Platform } from '../../platform.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { revokeUserSessions } from './sessions.ts';

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
    schema: { tags, response: { 200: Type.Object({ items: Type.Array(SessionView) }) } },
  }, async (req) => {
    const p = principalOf(req);
    if (!p.userId) throw new ProblemError('forbidden', 403, 'Only a signed-in user has sessions.');
    const rows = await platform.queryAsTenant<{ id: string; created_at: Date; last_used_at: Date; user_agent: string | null; ip: string | null }>(contextOf(p), sql`
      SELECT id, created_at, last_used_at, user_agent, ip FROM sessions
      WHERE user_id = ${p.userId} AND revoked_at IS NULL AND expires_at > now() ORDER BY last_used_at DESC LIMIT 200`);
    return {
      items: rows.map((r) => ({
        id: r.id, createdAt: r.created_at.toISOString(), lastUsedAt: r.last_used_at.toISOString(),
        userAgent: r.user_agent, ip: r.ip, current: r.id === p.sessionId,
      })),
    };
  });

  app.delete('/sessions/:id', {
    config: { security: { policy: { permission: 'session' } } },
    schema: { tags, params: Type.Object({ id: Type.String({ format: 'uuid' }) }, strict), response: { 204: Type.Null() } },
  }, async (req, reply) => {
    const p = principalOf(req);
    const rows = await platform.queryAsTenant(contextOf(p), sql`
      UPDATE sessions SET revoked_at = now(), revoked_reason = 'user-revoked'
      WHERE id = ${req.params.id} AND user_id = ${p.userId} AND revoked_at IS NULL RETURNING id`);
    if (rows.length === 0) throw notFound('session');
    app.forgetSession(req.params.id);
    return reply.code(204).send(null);
  });

  app.delete('/members/:userId/sessions', {
    config: { security: { policy: { permission: 'members:manage' } } },
    schema: { tags, params: Type.Object({ userId: Type.String({ format: 'uuid' }) }, strict), response: { 204: Type.Null() } },
  }, async (req, reply) => {
    const p = principalOf(req);
    const revoked = await platform.withTenant(contextOf(p), async (tx) => {
      const [m] = await tx.query<{ role: string }>(sql`SELECT role FROM memberships WHERE user_id = ${req.params.userId}`);
      if (!m || !isRole(m.role)) throw notFound('member');
      if (req.params.userId !== p.userId) assertMayAssign(p.roles, m.role, null);
      const ids = await revokeUserSessions(tx, req.params.userId, 'admin-revoked');
      await recordAuditEvent(tx, {
        tenantId: p.tenantId, actor: auditActorOf(p), action: 'session.revoked', target: { type: 'user', id: req.params.userId },
        outcome: 'success', reason: 'revoked by an administrator', metadata: { sessionsEnded: ids.length },
      });
      return ids;
    });
    revoked.forEach((id) => app.forgetSession(id));
    return reply.code(204).send(null);
  });
};

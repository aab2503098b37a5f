import { sql } from 'drizzle-orm';
import { assertMayAssign } from '../../kernel/access/assignment.ts';
import { isRole, type Role } from '../../kernel/access/permissions.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { notFound } from '../../http/problem.ts';
import type { Platform } from '../../kernel/platform.ts';
import { revokeUserSessions } from './sessions.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';

export function createMembersService(platform: Platform, onSessionsRevoked: (ids: string[]) => void) {

  async function currentRole(tx: Parameters<Parameters<Platform['withTenant']>[1]>[0], userId: string): Promise<Role> {
    const [row] = await tx.query<{ role: string }>(sql`SELECT role FROM memberships WHERE user_id = ${userId} FOR UPDATE`);
    if (!row || !isRole(row.role)) throw notFound('member');
    return row.role;
  }

  return {
    async list(principal: Principal) {
      const rows = await platform.withTenant(contextOf(principal), (tx) =>
        tx.query<{ user_id: string; email: string; display_name: string | null; role: string; created_at: Date }>(sql`
          SELECT m.user_id, u.email, u.display_name, m.role, m.created_at
          FROM memberships m JOIN users u ON u.id = m.user_id ORDER BY m.created_at, m.user_id LIMIT 1000`),
      );
      return rows.map((r) => ({ userId: r.user_id, email: r.email, displayName: r.display_name, role: r.role, joinedAt: r.created_at.toISOString() }));
    },

    /** Changes a role; the member's sessions end so the new role applies at their next login or refresh. */
    async changeRole(principal: Principal, userId: string, role: Role) {
      const revoked = await platform.withTenant(contextOf(principal), async (tx) => {
        const current = await currentRole(tx, userId);
        assertMayAssign(principal.roles, current, role);
        if (current === role) return [];
        await tx.query(sql`UPDATE memberships SET role = ${role}, updated_at = now() WHERE user_id = ${userId}`);
        const ids = await revokeUserSessions(tx, userId, 'role-changed');
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'member.role_changed',
          target: { type: 'user', id: userId }, outcome: 'success', metadata: { from: current, to: role, sessionsEnded: ids.length },
        });
        return ids;
      });
      onSessionsRevoked(revoked);
    },

    async remove(principal: Principal, userId: string) {
      const revoked = await platform.withTenant(contextOf(principal), async (tx) => {
        const current = await currentRole(tx, userId);
        if (userId !== principal.userId) assertMayAssign(principal.roles, current, null);
        const ids = await revokeUserSessions(tx, userId, 'membership-removed');
        await tx.query(sql`DELETE FROM memberships WHERE user_id = ${userId}`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: userId === principal.userId ? 'member.left' : 'member.removed',
          target: { type: 'user', id: userId }, outcome: 'success', metadata: { role: current, sessionsEnded: ids.length },
        });
        return ids;
      });
      onSessionsRevoked(revoked);
    },
  };
}

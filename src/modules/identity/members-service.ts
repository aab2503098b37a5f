import { sql } from 'drizzle-orm';
import { assertMayAssign } from '../../kernel/access/assignment.ts';
import type { BuiltInRole as Role } from '../../kernel/access/catalog.ts';
import type { Session } from '../../db/client.ts';
import { assertMayChangeMember, customRolesByMember, memberRoleState } from '../roles/service.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { notFound } from '../../http/problem.ts';
import type { Platform } from '../../kernel/platform.ts';
import { signalMemberSessionsEnded } from './member-signals.ts';
import { revokeUserSessions } from './sessions.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';

export function createMembersService(platform: Platform, onSessionsRevoked: (ids: string[]) => void) {

  /** The member's built-in role, locked; nobody changes a member holding permissions they lack (custom roles included). */
  async function currentRole(tx: Session, principal: Principal, userId: string): Promise<Role | null> {
    const held = await memberRoleState(tx, platform.permissions, userId, true);
    if (userId !== principal.userId) assertMayChangeMember(principal, held);
    return held.builtIn;
  }

  return {
    async list(principal: Principal) {
      const { rows, custom } = await platform.withTenant(contextOf(principal), async (tx) => ({
        rows: await tx.query<{ user_id: string; email: string; display_name: string | null; role: string | null; created_at: Date }>(sql`
          SELECT m.user_id, u.email, u.display_name, m.role, m.created_at
          FROM memberships m JOIN users u ON u.id = m.user_id ORDER BY m.created_at, m.user_id LIMIT 1000`),
        custom: await customRolesByMember(tx),
      }));
      return rows.map((r) => ({
        userId: r.user_id, email: r.email, displayName: r.display_name, role: r.role,
        roles: [...(r.role ? [{ id: r.role, name: r.role, builtIn: true }] : []), ...(custom.get(r.user_id) ?? [])],
        joinedAt: r.created_at.toISOString(),
      }));
    },

    /** Changes a role; the member's sessions end so the new role applies at their next login or refresh. */
    async changeRole(principal: Principal, userId: string, role: Role) {
      const revoked = await platform.withTenant(contextOf(principal), async (tx) => {
        const current = await currentRole(tx, principal, userId);
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
        const current = await currentRole(tx, principal, userId);
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
      await signalMemberSessionsEnded(platform, { tenantId: principal.tenantId, userId, reason: 'membership-removed' });
    },
  };
}

import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { BUILT_IN_ROLES, isBuiltInRole, SESSION_PERMISSION, type BuiltInRole, type Permission, type PermissionCatalog } from '../../kernel/access/catalog.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { isUuid } from '../../kernel/ids.ts';
import type { Platform } from '../../kernel/platform.ts';
import { conflict, notFound, ProblemError } from '../../http/problem.ts';
import { liveSessionIdsOf, revokeUserSessions } from '../identity/sessions.ts';

interface RoleRow {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  members: number;
  created_at: Date;
  updated_at: Date;
}

const roleView = (r: RoleRow) => ({
  id: r.id, name: r.name, description: r.description, builtIn: false, permissions: [...r.permissions].sort(),
  members: Number(r.members), createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString(),
});

const escalation = (detail: string, permissions: string[]) =>
  new ProblemError('role-escalation', 403, detail, { extensions: { permissions } });

/**
 * Tenant-defined roles (issue #11 §4): named sets of catalogued permissions.
 * The rule that keeps it safe is one rule, applied everywhere a permission
 * could change hands: nobody defines, grants or assigns a permission they do
 * not hold themselves, and nobody changes a member or a role holding
 * permissions they lack. The last-owner rule stays in the database.
 * Permissions are resolved from these rows at every session check, so a
 * change reaches live sessions within the 5 s session bound.
 */
/** `forgetSessions`: drops this node's cached state of sessions whose permissions changed (ended or not). */
export function createRolesService(platform: Platform, forgetSessions: (ids: string[]) => void = () => {}) {
  const catalog = platform.permissions;

  /** Unknown keys are a 400; keys the actor lacks are a 403 role-escalation. */
  function assertGrantable(actor: Principal, permissions: readonly string[]): void {
    const unknown = permissions.filter((p) => !catalog.has(p));
    if (unknown.length > 0) {
      throw new ProblemError('validation-failed', 400, `Unknown permission${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}. See GET /api/v1/permissions.`, {
        extensions: { unknownPermissions: unknown },
      });
    }
    const missing = lacking(actor, permissions);
    if (missing.length > 0) throw escalation(`You cannot grant permissions you do not hold: ${missing.join(', ')}.`, missing);
  }

  async function lockedRole(tx: Session, id: string): Promise<RoleRow> {
    if (!isUuid(id)) throw notFound('role');
    const [row] = await tx.query<RoleRow>(sql`
      SELECT id, name, description, permissions, created_at, updated_at,
        (SELECT count(*) FROM member_roles mr WHERE mr.tenant_id = r.tenant_id AND mr.role_id = r.id)::int AS members
      FROM tenant_roles r WHERE id = ${id.toLowerCase()} FOR UPDATE`);
    if (!row) throw notFound('role');
    return row;
  }

  function assertNameFree(name: string): void {
    if (isBuiltInRole(name.toLowerCase())) throw conflict(`"${name}" is the name of a built-in role.`);
  }

  async function assertNoClash(tx: Session, name: string, except?: string): Promise<void> {
    assertNameFree(name);
    const [clash] = await tx.query<{ id: string }>(sql`
      SELECT id FROM tenant_roles WHERE lower(name) = lower(${name}) ${except ? sql`AND id <> ${except}` : sql``}`);
    if (clash) throw conflict(`A role named "${name}" exists already.`);
  }

  return {
    catalogue() {
      return { items: catalog.entries().map((e) => ({ key: e.key, description: e.description, module: e.module, grantedTo: [...e.grantedTo] })) };
    },

    async list(principal: Principal) {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const counts = await tx.query<{ role: string; n: number }>(sql`SELECT role, count(*)::int AS n FROM memberships WHERE role IS NOT NULL GROUP BY role`);
        const builtIn = BUILT_IN_ROLES.map((r) => ({
          id: r, name: r, description: `Built-in ${r} role`, builtIn: true, permissions: [...catalog.grantsOf(r)].filter((p) => p !== 'session').sort(),
          members: counts.find((c) => c.role === r)?.n ?? 0, createdAt: null, updatedAt: null,
        }));
        const custom = await tx.query<RoleRow>(sql`
          SELECT id, name, description, permissions, created_at, updated_at,
            (SELECT count(*) FROM member_roles mr WHERE mr.tenant_id = r.tenant_id AND mr.role_id = r.id)::int AS members
          FROM tenant_roles r ORDER BY lower(name) LIMIT 500`);
        return { items: [...builtIn, ...custom.map(roleView)] };
      });
    },

    async get(principal: Principal, id: string) {
      if (isBuiltInRole(id)) return (await this.list(principal)).items.find((r) => r.id === id)!;
      return platform.withTenant(contextOf(principal), async (tx) => roleView(await lockedRole(tx, id)));
    },

    async create(principal: Principal, input: { name: string; description?: string | undefined; permissions: string[] }) {
      assertGrantable(principal, input.permissions);
      assertNameFree(input.name);
      return platform.withTenant(contextOf(principal), async (tx) => {
        await assertNoClash(tx, input.name);
        const [row] = await tx.query<RoleRow>(sql`
          INSERT INTO tenant_roles (tenant_id, name, description, permissions, created_by)
          VALUES (${principal.tenantId}, ${input.name}, ${input.description ?? ''}, ${sql.param(input.permissions)}::text[], ${principal.userId})
          RETURNING id, name, description, permissions, created_at, updated_at, 0 AS members`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'role.created',
          target: { type: 'role', id: row!.id }, outcome: 'success', metadata: { name: input.name, permissions: input.permissions },
        });
        return roleView(row!);
      });
    },

    async update(principal: Principal, id: string, patch: { name?: string | undefined; description?: string | undefined; permissions?: string[] | undefined }) {
      if (patch.permissions) assertGrantable(principal, patch.permissions);
      const { view, holders } = await platform.withTenant(contextOf(principal), async (tx) => {
        const current = await lockedRole(tx, id);
        // Editing a role changes what its holders may do: only someone who holds all of it may.
        const missing = lacking(principal, current.permissions.filter((p) => catalog.has(p)));
        if (missing.length > 0) throw escalation(`You cannot change a role holding permissions you do not hold: ${missing.join(', ')}.`, missing);
        if (patch.name !== undefined) await assertNoClash(tx, patch.name, current.id);
        const [row] = await tx.query<RoleRow>(sql`
          UPDATE tenant_roles SET
            name = ${patch.name ?? current.name},
            description = ${patch.description ?? current.description},
            permissions = ${sql.param(patch.permissions ?? current.permissions)}::text[],
            updated_at = now()
          WHERE id = ${current.id}
          RETURNING id, name, description, permissions, created_at, updated_at, ${current.members}::int AS members`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'role.updated',
          target: { type: 'role', id: current.id }, outcome: 'success',
          metadata: { name: row!.name, ...(patch.permissions ? { from: current.permissions, to: patch.permissions } : {}) },
        });
        const members = await tx.query<{ user_id: string }>(sql`SELECT user_id FROM member_roles WHERE role_id = ${current.id}`);
        return { view: roleView(row!), holders: await liveSessionIdsOf(tx, members.map((m) => m.user_id)) };
      });
      // Holders' sessions see the new permissions at once on this node, within the session bound elsewhere.
      forgetSessions(holders);
      return view;
    },

    async remove(principal: Principal, id: string) {
      await platform.withTenant(contextOf(principal), async (tx) => {
        const current = await lockedRole(tx, id);
        const missing = lacking(principal, current.permissions.filter((p) => catalog.has(p)));
        if (missing.length > 0) throw escalation(`You cannot delete a role holding permissions you do not hold: ${missing.join(', ')}.`, missing);
        if (current.members > 0) {
          throw new ProblemError('role-in-use', 409, `The role is assigned to ${current.members} member${current.members > 1 ? 's' : ''}; unassign it first.`, {
            extensions: { members: current.members },
          });
        }
        await tx.query(sql`DELETE FROM tenant_roles WHERE id = ${current.id}`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'role.deleted',
          target: { type: 'role', id: current.id }, outcome: 'success', metadata: { name: current.name, permissions: current.permissions },
        });
      });
    },

    async memberRoles(principal: Principal, userId: string) {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const held = await memberRoleState(tx, catalog, userId, false);
        return memberView(userId, held);
      });
    },

    /**
     * Replaces a member's whole role set: at most one built-in role (by name) and
     * custom roles (by id). The actor must hold every permission of the new set
     * and of the current one; a built-in change also follows the rank rules and
     * ends the member's sessions, like PATCH /members/{userId}.
     */
    async setMemberRoles(principal: Principal, userId: string, roles: string[]) {
      const result = await platform.withTenant(contextOf(principal), async (tx) => {
        // The member first: another tenant's member is a 404 like a missing one, whatever the body says.
        const held = await memberRoleState(tx, catalog, userId, true);
        const builtIns = roles.filter(isBuiltInRole);
        const customIds = roles.filter((r) => !isBuiltInRole(r));
        if (builtIns.length > 1) throw new ProblemError('validation-failed', 400, 'A member holds at most one built-in role.');
        const malformed = customIds.filter((r) => !isUuid(r));
        if (malformed.length > 0) throw new ProblemError('validation-failed', 400, `Unknown role${malformed.length > 1 ? 's' : ''}: ${malformed.join(', ')}.`);
        const nextBuiltIn = (builtIns[0] ?? null) as BuiltInRole | null;
        const wanted = customIds.length === 0 ? [] : await tx.query<{ id: string; name: string; permissions: string[] }>(sql`
          SELECT id, name, permissions FROM tenant_roles WHERE id = ANY (${sql.param(customIds.map((r) => r.toLowerCase()))}::uuid[])`);
        const missing = customIds.filter((r) => !wanted.some((w) => w.id === r.toLowerCase()));
        // Another tenant's role id reads exactly like one that does not exist.
        if (missing.length > 0) throw new ProblemError('validation-failed', 400, `Unknown role${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}.`);

        const next = catalog.permissionsOf(nextBuiltIn ? [nextBuiltIn] : [], wanted.map((w) => w.permissions));
        const lackingNext = lacking(principal, next);
        if (lackingNext.length > 0) throw escalation(`You cannot assign permissions you do not hold: ${lackingNext.join(', ')}.`, lackingNext);
        assertMayChangeMember(principal, held);
        // The subset rule above already covers ranks; the owner rule stays explicit.
        if ((held.builtIn === 'owner' || nextBuiltIn === 'owner') && held.builtIn !== nextBuiltIn && !principal.roles.includes('owner')) {
          throw new ProblemError('role-escalation', 403, 'Only an owner can grant or take away the owner role.');
        }

        const keep = new Set(wanted.map((w) => w.id));
        await tx.query(sql`DELETE FROM member_roles WHERE user_id = ${userId} AND NOT (role_id = ANY (${sql.param([...keep])}::uuid[]))`);
        if (keep.size > 0) {
          await tx.query(sql`
            INSERT INTO member_roles (tenant_id, user_id, role_id, granted_by)
            SELECT ${principal.tenantId}, ${userId}, id, ${principal.userId} FROM unnest(${sql.param([...keep])}::uuid[]) AS id
            ON CONFLICT DO NOTHING`);
        }
        let ended: string[];
        if (held.builtIn !== nextBuiltIn) {
          await tx.query(sql`UPDATE memberships SET role = ${nextBuiltIn}, updated_at = now() WHERE user_id = ${userId}`);
          ended = await revokeUserSessions(tx, userId, 'role-changed');
        } else {
          // Custom roles only: the sessions live on with the new permissions (this node at once).
          ended = await liveSessionIdsOf(tx, [userId]);
        }
        const after = await memberRoleState(tx, catalog, userId, false);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'member.roles_changed',
          target: { type: 'user', id: userId }, outcome: 'success',
          metadata: { from: held.refs.map((r) => r.name), to: after.refs.map((r) => r.name), sessionsEnded: held.builtIn !== nextBuiltIn ? ended.length : 0 },
        });
        return { view: memberView(userId, after), ended };
      });
      if (result.ended.length > 0) forgetSessions(result.ended);
      return result.view;
    },
  };

  function memberView(userId: string, held: MemberRoleState) {
    return { userId, roles: held.refs, permissions: [...held.permissions].filter((p) => p !== 'session').sort() };
  }


}

/** A member's roles and the permissions they add up to (404 when not a member of the transaction's tenant). */
export async function memberRoleState(tx: Session, catalog: PermissionCatalog, userId: string, lock: boolean): Promise<MemberRoleState> {
  if (!isUuid(userId)) throw notFound('member');
  const [member] = await tx.query<{ role: string | null }>(sql`
    SELECT role FROM memberships WHERE user_id = ${userId.toLowerCase()} ${lock ? sql`FOR UPDATE` : sql``}`);
  if (!member) throw notFound('member');
  const custom = await tx.query<{ id: string; name: string; permissions: string[] }>(sql`
    SELECT r.id, r.name, r.permissions FROM member_roles mr JOIN tenant_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id
    WHERE mr.user_id = ${userId.toLowerCase()} ORDER BY lower(r.name)`);
  const builtIn = isBuiltInRole(member.role) ? member.role : null;
  return {
    builtIn,
    refs: [...(builtIn ? [{ id: builtIn, name: builtIn, builtIn: true }] : []), ...custom.map((c) => ({ id: c.id, name: c.name, builtIn: false }))],
    permissions: catalog.permissionsOf(builtIn ? [builtIn] : [], custom.map((c) => c.permissions)),
  };
}
/** The custom roles of every member of the transaction's tenant, by user id. */
export async function customRolesByMember(tx: Session): Promise<Map<string, Array<{ id: string; name: string; builtIn: false }>>> {
  const rows = await tx.query<{ user_id: string; id: string; name: string }>(sql`
    SELECT mr.user_id, r.id, r.name FROM member_roles mr JOIN tenant_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id
    ORDER BY lower(r.name)`);
  const out = new Map<string, Array<{ id: string; name: string; builtIn: false }>>();
  for (const r of rows) out.set(r.user_id, [...(out.get(r.user_id) ?? []), { id: r.id, name: r.name, builtIn: false }]);
  return out;
}

/** Permissions of `wanted` the actor lacks (`session` is every user's own and never granted). */
export function lacking(actor: Principal, wanted: Iterable<Permission>): Permission[] {
  return [...wanted].filter((p) => p !== SESSION_PERMISSION && !actor.permissions.has(p));
}

/** Nobody changes or removes a member who holds permissions they lack. */
export function assertMayChangeMember(actor: Principal, held: MemberRoleState): void {
  const missing = lacking(actor, held.permissions);
  if (missing.length > 0) throw escalation(`You cannot change a member who holds permissions you do not: ${missing.join(', ')}.`, missing);
}

export interface MemberRoleState {
  builtIn: BuiltInRole | null;
  refs: Array<{ id: string; name: string; builtIn: boolean }>;
  permissions: Set<Permission>;
}

import { sql } from 'drizzle-orm';
import { isBuiltInRole, type BuiltInRole, type Permission } from '../access/catalog.ts';
import type { Platform } from '../platform.ts';

/** What a long-lived connection (a chat socket) re-checks about the session it was opened with. */
export interface SessionStatus {
  active: boolean;
  roles: BuiltInRole[];
  permissions: Set<Permission>;
}

/**
 * The current state of many sessions of one tenant in one statement, uncached:
 * the same rule as the authenticator's session check (not revoked, not expired,
 * tenant active, still a member) and the permissions the member holds now
 * (built-in role plus custom roles). A connection that outlives its upgrade
 * polls this, so a revocation or a role change reaches it within the poll interval.
 */
export async function sessionStatuses(
  platform: Pick<Platform, 'queryAsTenant' | 'permissions'>,
  tenantId: string,
  sessionIds: readonly string[],
): Promise<Map<string, SessionStatus>> {
  const out = new Map<string, SessionStatus>();
  if (sessionIds.length === 0) return out;
  const rows = await platform.queryAsTenant<{ id: string; active: boolean; role: string | null; custom: string[] }>(
    { tenantId },
    sql`SELECT s.id, (s.revoked_at IS NULL AND s.expires_at > now() AND t.status = 'active' AND t.deleted_at IS NULL AND m.user_id IS NOT NULL) AS active,
          m.role,
          ARRAY(SELECT DISTINCT p FROM member_roles mr JOIN tenant_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id, unnest(r.permissions) p
                WHERE mr.tenant_id = s.tenant_id AND mr.user_id = s.user_id) AS custom
        FROM sessions s JOIN tenants t ON t.id = s.tenant_id
        LEFT JOIN memberships m ON m.tenant_id = s.tenant_id AND m.user_id = s.user_id
        WHERE s.id = ANY (${sql.param([...sessionIds])}::uuid[])`,
  );
  for (const row of rows) {
    const roles = isBuiltInRole(row.role) ? [row.role] : [];
    out.set(row.id, { active: row.active === true, roles, permissions: platform.permissions.permissionsOf(roles, [row.custom ?? []]) });
  }
  // A session that no longer exists (tenant erased) is as ended as a revoked one.
  for (const id of sessionIds) if (!out.has(id)) out.set(id, { active: false, roles: [], permissions: new Set() });
  return out;
}

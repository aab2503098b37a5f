import { sql } from 'drizzle-orm';
import { isBuiltInRole } from '../../kernel/access/catalog.ts';
import type { Platform } from '../../kernel/platform.ts';

/**
 * Whether an endpoint may still receive a message of `eventType` (checked at every
 * delivery attempt, replays included). An endpoint is a standing read of the payloads
 * it receives, and it acts for the member who created it, as an API key does:
 * - the type must still be offered by a composed module (a module taken out of the
 *   build takes its events with it, queued deliveries included);
 * - its creator must still be a member of the tenant and still hold the type's
 *   permission (their built-in role and custom roles as they are now). Losing only
 *   webhooks:manage stops nothing: that permission is about changing endpoints, not
 *   about reading payloads.
 * An endpoint without a recorded creator (made with an API key, or its creator's
 * account erased) is checked against the catalogue only.
 * Answers why not, or null when it may.
 */
export async function deliveryRefusal(platform: Platform, tenantId: string, createdBy: string | null, eventType: string): Promise<string | null> {
  const type = platform.webhookEvents.find((e) => e.type === eventType);
  if (!type) return 'event type no longer offered';
  if (!createdBy) return null;
  const [row] = await platform.withIdentity((tx) => tx.query<{ role: string | null; member: boolean; custom: string[] }>(sql`
    SELECT m.role, m.user_id IS NOT NULL AS member,
      ARRAY(SELECT DISTINCT p FROM member_roles mr JOIN tenant_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id, unnest(r.permissions) p
            WHERE mr.tenant_id = ${tenantId} AND mr.user_id = ${createdBy}) AS custom
    FROM (SELECT 1) one LEFT JOIN memberships m ON m.tenant_id = ${tenantId} AND m.user_id = ${createdBy}`));
  if (!row?.member) return 'endpoint creator left the tenant';
  const held = platform.permissions.permissionsOf(isBuiltInRole(row.role) ? [row.role] : [], [row.custom]);
  return held.has(type.permission as never) ? null : `endpoint creator no longer holds ${type.permission}`;
}

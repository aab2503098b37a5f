import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';

/** An external organisation (an OIDC issuer's org id) mapped to a local tenant. */
export interface ExternalTenant {
  issuer: string;
  externalId: string;
  tenantId: string;
}

export async function listExternalTenants(tx: Session): Promise<ExternalTenant[]> {
  const rows = await tx.query<{ issuer: string; external_id: string; tenant_id: string }>(sql`
    SELECT issuer, external_id, tenant_id FROM external_tenants ORDER BY issuer, external_id`);
  return rows.map((r) => ({ issuer: r.issuer, externalId: r.external_id, tenantId: r.tenant_id }));
}

/**
 * Maps an organisation to a tenant, replacing an earlier mapping; false when there is no such
 * tenant. `owner` is the connecting login: the identity role has no INSERT here on purpose,
 * mapping is an operator act.
 */
export async function mapExternalTenant(owner: Session, mapping: ExternalTenant): Promise<boolean> {
  const [tenant] = await owner.query<{ id: string }>(sql`SELECT id FROM tenants WHERE id = ${mapping.tenantId}`);
  if (!tenant) return false;
  await owner.query(sql`INSERT INTO external_tenants (issuer, external_id, tenant_id) VALUES (${mapping.issuer}, ${mapping.externalId}, ${mapping.tenantId})
    ON CONFLICT (issuer, external_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id`);
  return true;
}

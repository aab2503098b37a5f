import { sql } from 'drizzle-orm';
import { Gauge, type Registry } from 'prom-client';
import type { Session } from '../../db/client.ts';

/** How old the keys in use are: `ocsuite doctor`, `/metrics` and the rotation schedule read this. */
export interface KeyAges {
  primaryMasterKeyId: string;
  /** Seconds since the primary master key was first seen by this database (null before it was recorded). */
  primaryMasterKeyAgeSeconds: number | null;
  /** Seconds since the oldest active tenant data key was created (null without tenant keys). */
  oldestTenantDataKeyAgeSeconds: number | null;
  tenantsWithKeys: number;
  /** Tenants whose data-key rotation is unfinished (a `previous` version still exists). */
  tenantRotationsInProgress: number;
}

export async function keyAges(tx: Session, primaryMasterKeyId: string): Promise<KeyAges> {
  const [row] = await tx.query<{ master_age: number | null; data_age: number | null; tenants: number; in_progress: number }>(sql`
    SELECT
      (SELECT extract(epoch FROM now() - first_seen_at)::float8 FROM master_keys WHERE id = ${primaryMasterKeyId}) AS master_age,
      (SELECT extract(epoch FROM now() - min(created_at))::float8 FROM tenant_data_keys WHERE state = 'active') AS data_age,
      (SELECT count(*)::int FROM tenant_data_keys WHERE state = 'active') AS tenants,
      (SELECT count(DISTINCT tenant_id)::int FROM tenant_data_keys WHERE state = 'previous') AS in_progress`);
  return {
    primaryMasterKeyId,
    primaryMasterKeyAgeSeconds: row?.master_age ?? null,
    oldestTenantDataKeyAgeSeconds: row?.data_age ?? null,
    tenantsWithKeys: row?.tenants ?? 0,
    tenantRotationsInProgress: row?.in_progress ?? 0,
  };
}

/**
 * Gauges read at scrape time (one query per scrape, as the maintenance role).
 * No labels: key ids and tenant ids stay out of metrics.
 */
export function registerKeyAgeMetrics(registry: Registry, read: () => Promise<KeyAges>): void {
  let last: Promise<KeyAges | undefined> | undefined;
  // Both gauges of one scrape share one query.
  const current = () => (last ??= read().catch(() => undefined).finally(() => setTimeout(() => (last = undefined), 0)));
  new Gauge({
    name: 'ocsuite_master_key_primary_age_seconds',
    help: 'Seconds since the primary master key was first seen by this database',
    registers: [registry],
    async collect() {
      const ages = await current();
      if (ages?.primaryMasterKeyAgeSeconds != null) this.set(ages.primaryMasterKeyAgeSeconds);
    },
  });
  new Gauge({
    name: 'ocsuite_tenant_data_key_oldest_age_seconds',
    help: 'Seconds since the oldest active tenant data key was created',
    registers: [registry],
    async collect() {
      const ages = await current();
      this.set(ages?.oldestTenantDataKeyAgeSeconds ?? 0);
    },
  });
  new Gauge({
    name: 'ocsuite_tenant_key_rotations_in_progress',
    help: 'Tenants whose data-key rotation has not finished (resume with ocsuite keys rotate-tenant)',
    registers: [registry],
    async collect() {
      const ages = await current();
      this.set(ages?.tenantRotationsInProgress ?? 0);
    },
  });
}

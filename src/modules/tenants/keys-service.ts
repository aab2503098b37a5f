import { sql } from 'drizzle-orm';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import type { Platform } from '../../kernel/platform.ts';

export interface DataKeyStatus {
  version: number;
  state: 'active' | 'previous' | 'destroyed';
  createdAt: string;
  destroyedAt: string | null;
}

/**
 * The tenant's data-key versions as its admins may see them: version, state and dates. The
 * wrapped key is never selected (not even its master-key id): status, not material. RLS of
 * tenant_data_keys (0005, 0009) scopes the rows to the caller's tenant.
 */
export async function dataKeyStatus(platform: Platform, principal: Principal) {
  const rows = await platform.queryAsTenant<{ version: number; state: DataKeyStatus['state']; created_at: Date | string; destroyed_at: Date | string | null }>(contextOf(principal), sql`
    SELECT version, state, created_at, destroyed_at FROM tenant_data_keys ORDER BY version`);
  const iso = (d: Date | string) => new Date(d).toISOString();
  const keys = rows.map((r) => ({ version: r.version, state: r.state, createdAt: iso(r.created_at), destroyedAt: r.destroyed_at === null ? null : iso(r.destroyed_at) }));
  return {
    keys,
    activeVersion: keys.find((k) => k.state === 'active')?.version ?? null,
    // A `previous` version still opens values a data-key rotation has not re-encrypted yet.
    rotationInProgress: keys.some((k) => k.state === 'previous'),
  };
}

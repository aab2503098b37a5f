import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import type { Config } from '../config/config.ts';
import { openMigrationDatabase } from '../db/open.ts';
import { withIdentity } from '../db/transaction.ts';
import { isUuid } from '../kernel/ids.ts';

const USAGE = `usage: ocsuite oidc map-tenant --issuer URL --org EXTERNAL_ID --tenant TENANT_ID
       ocsuite oidc list`;

/**
 * Operator mapping of external organisations (Clerk's org_id) to local
 * tenants. Only configured issuers are accepted; a token from an unmapped
 * organisation is refused.
 */
export async function oidcCommand(config: Config, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { issuer: { type: 'string' }, org: { type: 'string' }, tenant: { type: 'string' } } });
  const sub = positionals[0];
  if (sub !== 'map-tenant' && sub !== 'list') {
    console.error(USAGE);
    return 2;
  }
  if (sub === 'map-tenant') {
    const problems: string[] = [];
    if (!values.issuer || !config.oidcIssuers.some((i) => i.issuer === values.issuer)) problems.push('--issuer must be one of OCSUITE_OIDC_ISSUERS');
    if (!values.org || values.org.length > 200) problems.push('--org is required (at most 200 characters)');
    if (!values.tenant || !isUuid(values.tenant)) problems.push('--tenant must be a tenant id (UUID)');
    if (problems.length) {
      console.error(`${problems.join('\n')}\n\n${USAGE}`);
      return 2;
    }
  }
  const db = await openMigrationDatabase(config);
  try {
    const opts = { statementTimeoutMs: config.statementTimeoutMs };
    if (sub === 'list') {
      const rows = await withIdentity(db, opts, (tx) => tx.query<{ issuer: string; external_id: string; tenant_id: string }>(sql`
        SELECT issuer, external_id, tenant_id FROM external_tenants ORDER BY issuer, external_id`));
      for (const r of rows) console.log(`${r.issuer}  ${r.external_id}  →  ${r.tenant_id}`);
      return 0;
    }
    // The identity role has no INSERT here on purpose: mapping is an operator act, as the owner.
    const client = await db.acquire();
    try {
      const [tenant] = await client.query<{ id: string }>(sql`SELECT id FROM tenants WHERE id = ${values.tenant!}`);
      if (!tenant) {
        console.error(`no tenant ${values.tenant}`);
        return 1;
      }
      await client.query(sql`INSERT INTO external_tenants (issuer, external_id, tenant_id) VALUES (${values.issuer!}, ${values.org!}, ${values.tenant!})
        ON CONFLICT (issuer, external_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id`);
      console.log(`mapped ${values.issuer} organisation ${values.org} to tenant ${values.tenant}`);
      return 0;
    } finally {
      client.release();
    }
  } finally {
    await db.close();
  }
}

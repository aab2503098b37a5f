import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import { openMigrationDatabase } from '../db/open.ts';
import { withIdentity } from '../db/transaction.ts';
import { isUuid } from '../kernel/ids.ts';
import { listExternalTenants, mapExternalTenant } from '../modules/identity/external-tenants.ts';

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
      const mappings = await withIdentity(db, opts, listExternalTenants);
      for (const m of mappings) console.log(`${m.issuer}  ${m.externalId}  →  ${m.tenantId}`);
      return 0;
    }
    // As the owner: the identity role may not map (see mapExternalTenant).
    const client = await db.acquire();
    try {
      if (!(await mapExternalTenant(client, { issuer: values.issuer!, externalId: values.org!, tenantId: values.tenant! }))) {
        console.error(`no tenant ${values.tenant}`);
        return 1;
      }
      console.log(`mapped ${values.issuer} organisation ${values.org} to tenant ${values.tenant}`);
      return 0;
    } finally {
      client.release();
    }
  } finally {
    await db.close();
  }
}

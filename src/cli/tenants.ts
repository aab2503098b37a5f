import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import type { Config } from '../config/config.ts';
import { ProblemError } from '../http/problem.ts';
import { deleteTenant, KEPT_ON_DELETION } from '../modules/tenants/deletion.ts';
import { moduleHooksOf, modules } from '../modules/index.ts';
import { bindTransactions } from '../kernel/platform.ts';
import { openVault, operatorActor } from './keys.ts';
import { isUuid } from '../kernel/ids.ts';

const USAGE = `usage: ocsuite tenants <command>

  list                                 every tenant: id, status, created, deleted
  delete ID --confirm NAME             delete a tenant by crypto-shredding its data keys (irreversible)`;

/** Operator commands on tenants; every change is recorded in the platform audit log. */
export async function tenantsCommand(config: Config, argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { confirm: { type: 'string' }, help: { type: 'boolean' } } });
  const sub = positionals[0];
  if (!sub || values.help) {
    console.log(USAGE);
    return sub || values.help ? 0 : 2;
  }
  if (sub !== 'list' && sub !== 'delete') {
    console.error(`ocsuite tenants: unknown command "${sub}"\n\n${USAGE}`);
    return 2;
  }
  if (sub === 'delete' && (!positionals[1] || !isUuid(positionals[1]) || values.confirm === undefined)) {
    console.error('ocsuite tenants delete: give the tenant id and --confirm with its exact name');
    return 2;
  }
  const { db } = await openVault(config);
  const tx = { ...bindTransactions(config, db), moduleHooks: moduleHooksOf(modules) };
  try {
    if (sub === 'list') {
      const rows = await tx.withMaintenance((t) => t.query<{ id: string; name: string; status: string; created_at: Date; deleted_at: Date | null }>(sql`
        SELECT id, name, status, created_at, deleted_at FROM tenants ORDER BY created_at, id`));
      for (const r of rows) {
        console.log(`${r.id}  ${(r.deleted_at ? 'deleted' : r.status).padEnd(9)}  created ${new Date(r.created_at).toISOString()}  ${r.deleted_at ? '' : r.name}`);
      }
      return 0;
    }
    const receipt = await deleteTenant(tx, positionals[1]!, operatorActor(), { confirmName: values.confirm! });
    if (receipt.alreadyDeleted) {
      console.log(`tenant ${receipt.tenantId} was already deleted at ${receipt.deletedAt}; revoked ${receipt.revokedSessions} remaining session(s)`);
      return 0;
    }
    console.log(`tenant ${receipt.tenantId} deleted at ${receipt.deletedAt}: destroyed ${receipt.shreddedKeyVersions} data key version(s) `
      + `(its sealed secrets are unreadable), revoked ${receipt.revokedSessions} session(s), erased `
      + `${Object.entries(receipt.erasedRows).map(([table, n]) => `${n} ${table}`).join(', ') || 'no rows'}`);
    console.log(`note: ${KEPT_ON_DELETION}. Backups still hold the wrapped key until the master key that wrapped it is rotated away and retired.`);
    return 0;
  } catch (err) {
    if (err instanceof ProblemError) {
      console.error(`ocsuite tenants ${sub}: ${err.detail ?? err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await db.close();
  }
}

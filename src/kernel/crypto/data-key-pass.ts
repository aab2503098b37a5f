import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { walk } from './batch-walk.ts';
import { masterKeyIdOf, rewrapDataKey, unwrapDataKey } from './datakey.ts';
import { batchSizeOf, countRows, type RotationOptions } from './rotation-options.ts';
import { codeOf, failure, newPass, type Pass } from './rotation-passes.ts';

export type DataKeyRow = { tenant_id: string; version: number; wrapped_key: string };

// Keyset pages order by the table's own columns (qualified: an unqualified
// ORDER BY name would sort by the ::text output column, which no index serves).
export const readDataKeys = (batch: number) => (t: Session, after: DataKeyRow | undefined) => t.query<DataKeyRow>(sql`
  SELECT k.tenant_id::text AS tenant_id, k.version, k.wrapped_key FROM tenant_data_keys k WHERE k.wrapped_key IS NOT NULL
  ${after ? sql`AND (k.tenant_id, k.version) > (${after.tenant_id}::uuid, ${after.version}::int)` : sql``}
  ORDER BY k.tenant_id, k.version LIMIT ${batch}`);

export const dataKeyProblem = (r: { tenant_id: string; version: number }, err: unknown) =>
  ({ table: 'tenant_data_keys', column: 'wrapped_key', rowId: `${r.tenant_id}/v${r.version}`, tenantId: r.tenant_id, code: codeOf(err) });

/**
 * One pass of master-key rotation over the tenant data keys: a key already
 * wrapped under `target` is unwrapped (verified), any other is rewrapped and
 * swapped with a compare-and-swap on the old wrapping, and what the swap
 * stored is unwrapped again. `afterSwap` runs in each swap's transaction.
 */
export async function rewrapDataKeys(o: RotationOptions, target: string, afterSwap: (t: Session, rows: number) => Promise<void>): Promise<Pass> {
  const batch = batchSizeOf(o);
  const phase = `rewrap tenant data keys under ${target}`;
  const pass = newPass();
  const problem = (r: DataKeyRow, err: unknown) => pass.problems.push(dataKeyProblem(r, err));
  const verify = (r: DataKeyRow) => {
    try {
      if (masterKeyIdOf(r.wrapped_key) !== target) throw failure('ERR_NOT_ROTATED', 'not under the target master key');
      unwrapDataKey(o.keyring, { tenantId: r.tenant_id, version: r.version }, r.wrapped_key).fill(0);
      pass.verified++;
    } catch (err) {
      problem(r, err);
    }
  };
  let stored: DataKeyRow[] = [];
  const total = o.onProgress ? await countRows(o, sql`tenant_data_keys WHERE wrapped_key IS NOT NULL`) : 0;
  if (total > 0) o.onProgress?.({ phase, done: 0, total });
  pass.moved = await walk<DataKeyRow>(o, {
    batch,
    read: readDataKeys(batch),
    process: (rows) => {
      // What the previous page's swap stored is opened now, while this page's transaction runs.
      stored.splice(0).forEach(verify);
      const tenants: string[] = [];
      const versions: number[] = [];
      const olds: string[] = [];
      const nexts: string[] = [];
      for (const r of rows) {
        if (masterKeyIdOf(r.wrapped_key) === target) {
          verify(r);
          continue;
        }
        try {
          nexts.push(rewrapDataKey(o.keyring, { tenantId: r.tenant_id, version: r.version }, r.wrapped_key));
          tenants.push(r.tenant_id);
          versions.push(r.version);
          olds.push(r.wrapped_key);
        } catch (err) {
          problem(r, err);
        }
      }
      if (tenants.length === 0 && !o.beforeSwap) return undefined;
      return async (t) => {
        await o.beforeSwap?.(t, { table: 'tenant_data_keys', column: 'wrapped_key', rowIds: rows.map((r) => `${r.tenant_id}/v${r.version}`) });
        if (tenants.length === 0) return 0;
        // Compare-and-swap: a key that changed since it was read is left alone.
        const swapped = await t.query<DataKeyRow>(sql`
          UPDATE tenant_data_keys AS k SET wrapped_key = v.next
          FROM unnest(${sql.param(tenants)}::uuid[], ${sql.param(versions)}::int[], ${sql.param(olds)}::text[], ${sql.param(nexts)}::text[])
            AS v(tenant_id, version, old, next)
          WHERE k.tenant_id = v.tenant_id AND k.version = v.version AND k.wrapped_key = v.old
          RETURNING k.tenant_id::text AS tenant_id, k.version, k.wrapped_key`);
        pass.lost += tenants.length - swapped.length;
        stored = stored.concat(swapped);
        await afterSwap(t, swapped.length);
        return swapped.length;
      };
    },
    committed: (done) => o.onProgress?.({ phase, done, total: Math.max(total, done) }),
  });
  stored.splice(0).forEach(verify);
  return pass;
}

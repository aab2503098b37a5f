import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { walk } from './batch-walk.ts';
import { dataKeyProblem, readDataKeys } from './data-key-pass.ts';
import { unwrapDataKey } from './datakey.ts';
import { batchSizeOf, type RotationOptions } from './rotation-options.ts';
import { codeOf, type RotationProblem } from './rotation-passes.ts';
import { openWithMasterKey } from './sealed.ts';
import { columnIdent, readColumn } from './sealed-column-pass.ts';
import { platformAadContext, sealedColumns } from './sealed-columns.ts';
import { openWithWrappedKey, wrappedKeyFor } from './tenant-keys.ts';

export interface VerifyReport {
  dataKeys: number;
  platformSecrets: number;
  tenantValues: number;
  problems: RotationProblem[];
}

type TenantCellRow = { tenant_id: string; id: string; sealed: string; wrapped: string | null };

/**
 * Opens every sealed value in the database, each under its own key: every
 * data key unwraps, every platform secret opens, every tenant value opens
 * (`ocsuite keys verify`). Read-only; values under an older, still
 * configured master key count as readable.
 */
export async function verifyAllSealed(o: RotationOptions): Promise<VerifyReport> {
  const batch = batchSizeOf(o);
  const report: VerifyReport = { dataKeys: 0, platformSecrets: 0, tenantValues: 0, problems: [] };
  /** Walks the pages `read` returns and opens every row: counts what opened, reports what did not. */
  const openEvery = async <R>(read: (t: Session, after: R | undefined) => Promise<R[]>, open: (r: R) => void, problem: (r: R, err: unknown) => RotationProblem) => {
    let opened = 0;
    await walk<R>(o, {
      batch,
      read,
      process: (rows) => {
        for (const r of rows) {
          try {
            open(r);
            opened++;
          } catch (err) {
            report.problems.push(problem(r, err));
          }
        }
        return undefined;
      },
    });
    return opened;
  };

  report.dataKeys = await openEvery(
    readDataKeys(batch),
    (r) => unwrapDataKey(o.keyring, { tenantId: r.tenant_id, version: r.version }, r.wrapped_key).fill(0),
    dataKeyProblem,
  );
  o.onProgress?.({ phase: 'verify tenant data keys', done: report.dataKeys, total: report.dataKeys + report.problems.length });
  for (const c of sealedColumns('platform')) {
    report.platformSecrets += await openEvery(
      readColumn(c, batch, undefined),
      (r) => openWithMasterKey(o.keyring, platformAadContext(c, r.id), r.sealed).fill(0),
      (r, err) => ({ table: c.table, column: c.column, rowId: r.id, code: codeOf(err) }),
    );
  }
  o.onProgress?.({ phase: 'verify platform secrets', done: report.platformSecrets, total: report.platformSecrets });
  for (const c of sealedColumns('tenant')) {
    const q = columnIdent(c);
    report.tenantValues += await openEvery<TenantCellRow>(
      // The wrapped key is read in the same snapshot as the value (wrappedKeyFor).
      (t, after) => t.query<TenantCellRow>(sql`
        SELECT x.tenant_id::text AS tenant_id, x.${q.id}::text AS id, x.${q.column} AS sealed,
          ${wrappedKeyFor(sql`x.tenant_id`, sql`x.${q.column}`)} AS wrapped
        FROM ${q.table} x WHERE x.${q.column} IS NOT NULL
        ${after ? sql`AND (x.tenant_id, x.${q.id}) > (${after.tenant_id}::uuid, ${after.id}::${q.cast})` : sql``}
        ORDER BY x.tenant_id, x.${q.id} LIMIT ${batch}`),
      (r) => openWithWrappedKey(o.keyring, { tenantId: r.tenant_id, table: c.table, column: c.column, rowId: r.id }, r.sealed, r.wrapped).fill(0),
      (r, err) => ({ table: c.table, column: c.column, rowId: r.id, tenantId: r.tenant_id, code: codeOf(err) }),
    );
    o.onProgress?.({ phase: `verify ${c.table}.${c.column}`, done: report.tenantValues, total: report.tenantValues });
  }
  return report;
}

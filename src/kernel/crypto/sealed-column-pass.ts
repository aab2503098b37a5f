import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { walk } from './batch-walk.ts';
import { batchSizeOf, countRows, type RotationOptions } from './rotation-options.ts';
import { addPass, codeOf, newPass, type Pass } from './rotation-passes.ts';
import type { SealedColumn } from './sealed-columns.ts';

/**
 * One pass of a rotation over sealed columns (descriptors of the registry,
 * sealed-columns.ts): each value already under the target key is opened
 * (verified); any other is sealed again under the target and swapped with a
 * compare-and-swap on the old ciphertext, and what the swap stored is opened
 * again. Platform columns (master-key rotation) and tenant columns (data-key
 * rotation) differ only in their `ColumnKeys`.
 */
export interface ColumnKeys {
  /** Walk one tenant's rows (tenant columns), or every row (undefined: platform columns). */
  tenantId: string | undefined;
  phase: (c: SealedColumn) => string;
  /**
   * The value sealed again under the target key, or undefined when it is under
   * the target already; throws for a value it cannot open.
   */
  reseal: (c: SealedColumn, rowId: string, sealed: string) => string | undefined;
  /** Opens a stored value under the target key; throws if it does not open there. */
  verify: (c: SealedColumn, rowId: string, sealed: string) => void;
  /** Inside a swap's transaction, after the swap (run bookkeeping). */
  afterSwap?: (t: Session, rows: number) => Promise<void>;
}

export type CellRow = { id: string; sealed: string };

const ID_CASTS = { uuid: sql`uuid`, text: sql`text` } as const;
const ARRAY_CASTS = { uuid: sql`uuid[]`, text: sql`text[]` } as const;

export const columnIdent = (c: SealedColumn) => ({
  table: sql.identifier(c.table),
  column: sql.identifier(c.column),
  id: sql.identifier(c.idColumn),
  cast: ID_CASTS[c.idType],
  arrayCast: ARRAY_CASTS[c.idType],
});

// Keyset pages order by the table's own columns (qualified: an unqualified
// ORDER BY name would sort by the ::text output column, which no index serves).
export const readColumn = (c: SealedColumn, batch: number, tenantId: string | undefined) => {
  const q = columnIdent(c);
  return (t: Session, after: CellRow | undefined) => t.query<CellRow>(sql`
    SELECT x.${q.id}::text AS id, x.${q.column} AS sealed FROM ${q.table} x
    WHERE x.${q.column} IS NOT NULL ${tenantId === undefined ? sql`` : sql`AND x.tenant_id = ${tenantId}`}
    ${after === undefined ? sql`` : sql`AND x.${q.id} > ${after.id}::${q.cast}`}
    ORDER BY x.${q.id} LIMIT ${batch}`);
};

interface Swaps {
  ids: string[];
  olds: string[];
  nexts: string[];
}

/**
 * The compare-and-swap of one page of a column; returns what is stored now.
 * The page's id range bounds the scan whatever plan is chosen (without it,
 * stale statistics can hash the whole tenant on every page).
 */
async function swapColumn(t: Session, c: SealedColumn, swaps: Swaps, tenantId: string | undefined): Promise<CellRow[]> {
  if (swaps.ids.length === 0) return [];
  const q = columnIdent(c);
  const first = swaps.ids[0]!;
  const last = swaps.ids[swaps.ids.length - 1]!;
  return t.query<CellRow>(sql`
    UPDATE ${q.table} AS x SET ${q.column} = v.next
    FROM unnest(${sql.param(swaps.ids)}::${q.arrayCast}, ${sql.param(swaps.olds)}::text[], ${sql.param(swaps.nexts)}::text[]) AS v(id, old, next)
    WHERE ${tenantId === undefined ? sql`` : sql`x.tenant_id = ${tenantId} AND`} x.${q.id} BETWEEN ${first}::${q.cast} AND ${last}::${q.cast}
      AND x.${q.id} = v.id AND x.${q.column} = v.old
    RETURNING x.${q.id}::text AS id, x.${q.column} AS sealed`);
}

/** One pass over every given column, in order. */
export async function sealedColumnsPass(o: RotationOptions, columns: readonly SealedColumn[], keys: ColumnKeys): Promise<Pass> {
  const sum = newPass();
  for (const c of columns) addPass(sum, await columnPass(o, c, keys));
  return sum;
}

async function columnPass(o: RotationOptions, c: SealedColumn, keys: ColumnKeys): Promise<Pass> {
  const { tenantId } = keys;
  const q = columnIdent(c);
  const batch = batchSizeOf(o);
  const phase = keys.phase(c);
  const pass = newPass();
  const problem = (id: string, err: unknown) =>
    pass.problems.push({ table: c.table, column: c.column, rowId: id, ...(tenantId === undefined ? {} : { tenantId }), code: codeOf(err) });
  const verify = (r: CellRow) => {
    try {
      keys.verify(c, r.id, r.sealed);
      pass.verified++;
    } catch (err) {
      problem(r.id, err);
    }
  };
  let stored: CellRow[] = [];
  const total = o.onProgress
    ? await countRows(o, sql`${q.table} WHERE ${tenantId === undefined ? sql`` : sql`tenant_id = ${tenantId} AND`} ${q.column} IS NOT NULL`)
    : 0;
  if (total > 0) o.onProgress?.({ phase, done: 0, total });
  pass.moved = await walk<CellRow>(o, {
    batch,
    read: readColumn(c, batch, tenantId),
    process: (rows) => {
      // What the previous page's swap stored is opened now, while this page's transaction runs.
      stored.splice(0).forEach(verify);
      const swaps: Swaps = { ids: [], olds: [], nexts: [] };
      for (const r of rows) {
        try {
          const next = keys.reseal(c, r.id, r.sealed);
          if (next === undefined) {
            verify(r);
            continue;
          }
          swaps.nexts.push(next);
          swaps.ids.push(r.id);
          swaps.olds.push(r.sealed);
        } catch (err) {
          problem(r.id, err);
        }
      }
      if (swaps.ids.length === 0 && !o.beforeSwap) return undefined;
      return async (t) => {
        await o.beforeSwap?.(t, { table: c.table, column: c.column, rowIds: rows.map((r) => r.id) });
        const swapped = await swapColumn(t, c, swaps, tenantId);
        pass.lost += swaps.ids.length - swapped.length;
        stored = stored.concat(swapped);
        await keys.afterSwap?.(t, swapped.length);
        return swapped.length;
      };
    },
    committed: (done) => total > 0 && o.onProgress?.({ phase, done, total: Math.max(total, done) }),
  });
  stored.splice(0).forEach(verify);
  return pass;
}

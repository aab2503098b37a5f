import type { KeyObject } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import type { Database, Session } from '../../db/client.ts';
import { withMaintenance } from '../../db/transaction.ts';
import { recordAuditEvent, type AuditEventInput } from '../audit/events.ts';
import { importAeadKey } from './aead.ts';
import { generateDataKey, masterKeyIdOf, rewrapDataKey, unwrapDataKey, wrapDataKey } from './datakey.ts';
import { isCryptoError } from './errors.ts';
import type { Keyring } from './keyring.ts';
import { syncMasterKeys } from './master-key-store.ts';
import { dataKeyVersionOf, masterKeyIdOfSealed, openValue, openWithMasterKey, resealWithMasterKey, sealValue } from './sealed.ts';
import { platformAadContext, sealedColumns, type SealedColumn } from './sealed-columns.ts';
import { holdTenantKeysExclusive, openWithWrappedKey, wrappedKeyFor } from './tenant-keys.ts';

/**
 * Online, resumable key rotation (docs/security/encryption-key-rotation.md).
 *
 * A rotation walks every value it is responsible for, in keyset order and in
 * batches: a value already under the target key is opened (verified), any
 * other is opened with its own key, sealed again under the target and
 * swapped with a compare-and-swap on the old ciphertext, and what the swap
 * stored is opened again (verified). So:
 * - a run that is killed resumes by running again: the work is found from
 *   the data itself, nothing is lost (a value is only ever replaced, in one
 *   statement, by a ciphertext of the same plaintext), and nothing is
 *   encrypted twice (a value under the target key is never re-sealed);
 * - a concurrent write always wins (the swap does not match its new value),
 *   and the value it wrote is opened by one more pass;
 * - every value has been opened under the new key when the run reports success.
 * Each batch is one short transaction as the maintenance role.
 */

export interface RotationOptions {
  db: Database;
  keyring: Keyring;
  statementTimeoutMs: number;
  /** Who asked: an operator at the CLI or the scheduler. */
  actor: AuditEventInput['actor'];
  /** Rows per transaction (default 500). */
  batchSize?: number;
  /** Pause between batches, to keep an online rotation gentle on the database. */
  throttleMs?: number;
  onProgress?: (progress: RotationProgress) => void;
  /** Stops between batches; the run stays resumable. */
  signal?: AbortSignal;
  /**
   * Called inside a batch transaction after the batch was read and re-sealed,
   * just before the compare-and-swap (instrumentation and tests: a write made
   * here is a concurrent write the swap must not clobber).
   */
  beforeSwap?: (tx: Session, batch: { table: string; column: string; rowIds: string[] }) => Promise<void>;
}

export interface RotationProgress {
  phase: string;
  done: number;
  total: number;
}

/** A value rotation could not move or verify; reported, never silently skipped. */
export interface RotationProblem {
  table: string;
  column: string;
  rowId: string;
  tenantId?: string;
  code: string;
}

export class RotationAborted extends Error {
  readonly code = 'ERR_ROTATION_ABORTED';
}

const DEFAULT_BATCH = 500;
const MAX_PASSES = 3;
const ID_CASTS = { uuid: sql`uuid`, text: sql`text` } as const;
const ARRAY_CASTS = { uuid: sql`uuid[]`, text: sql`text[]` } as const;

function tx<T>(o: RotationOptions, fn: (t: Session) => Promise<T>): Promise<T> {
  return withMaintenance(o.db, { statementTimeoutMs: o.statementTimeoutMs }, fn);
}

async function pace(o: RotationOptions): Promise<void> {
  if (o.signal?.aborted) throw new RotationAborted('rotation stopped; run the same command again to resume');
  if (o.throttleMs && o.throttleMs > 0) await new Promise((r) => setTimeout(r, o.throttleMs));
  if (o.signal?.aborted) throw new RotationAborted('rotation stopped; run the same command again to resume');
}

const codeOf = (err: unknown) => {
  const code = (err as { code?: unknown } | null)?.code;
  return isCryptoError(err) || code === 'ERR_NOT_ROTATED' || code === 'ERR_DATAKEY_MISSING' ? String(code) : 'ERR_UNEXPECTED';
};
const failure = (code: string, message: string) => Object.assign(new Error(message), { code });

const ident = (c: SealedColumn) => ({
  table: sql.identifier(c.table),
  column: sql.identifier(c.column),
  id: sql.identifier(c.idColumn),
  cast: ID_CASTS[c.idType],
  arrayCast: ARRAY_CASTS[c.idType],
});

function dedupe(problems: RotationProblem[]): RotationProblem[] {
  const seen = new Map<string, RotationProblem>();
  for (const p of problems) {
    const key = `${p.table}.${p.column}:${p.rowId}`;
    if (!seen.has(key)) seen.set(key, p); // the first report of a row is the most specific
  }
  return [...seen.values()];
}

// ─── The walk ───────────────────────────────────────────────────────────────

type Write = (t: Session) => Promise<number>;

/**
 * A keyset walk in pages. Each transaction carries the previous page's write
 * and the next page's read, sent together; the CPU work on the current page
 * (opening, re-sealing, verifying) runs while that transaction is in flight.
 * Progress is reported once a page's write has committed; between pages the
 * walk honours the throttle and the abort signal.
 */
async function walk<R>(o: RotationOptions, p: {
  batch: number;
  read: (t: Session, after: R | undefined) => Promise<R[]>;
  /** The CPU work of one page; returns its write, if it has one. */
  process: (rows: R[]) => Write | undefined;
  committed?: (rows: number) => void;
}): Promise<number> {
  let done = 0;
  let moved = 0;
  let page = await tx(o, (t) => p.read(t, undefined));
  let pending: { write: Write | undefined; rows: number } | undefined;
  while (page.length > 0 || pending) {
    const current = page;
    const prev = pending;
    const readNext = current.length >= p.batch;
    const step = prev?.write || readNext
      ? tx(o, async (t) => {
        const [n, next] = await Promise.all([prev?.write ? prev.write(t) : 0, readNext ? p.read(t, current[current.length - 1]) : []]);
        return { n, next };
      })
      : Promise.resolve({ n: 0, next: [] as R[] });
    step.catch(() => {}); // awaited below, after the CPU work
    // Let the transaction acquire its connection and send its statements before the CPU work holds the thread.
    await new Promise((r) => setImmediate(r));
    pending = current.length > 0 ? { write: p.process(current), rows: current.length } : undefined;
    const { n, next } = await step;
    page = next;
    if (prev) {
      done += prev.rows;
      moved += n;
      p.committed?.(done);
      if (page.length > 0 || pending) await pace(o);
    }
  }
  return moved;
}

// ─── Runs ───────────────────────────────────────────────────────────────────

interface RunRow {
  id: string;
  cutoff: Date | null;
  resumed: boolean;
}

/**
 * Opens a run, or resumes the unfinished one of the same kind and target.
 * Tenant runs without a cutoff use the database's now(), so no client clock
 * decides which keys count as old.
 */
async function openRun(t: Session, kind: 'master' | 'tenants', target: string, startedBy: string, cutoff: Date | undefined): Promise<RunRow> {
  const [open] = await t.query<{ id: string; cutoff: Date | null }>(sql`
    SELECT id, cutoff FROM key_rotation_runs WHERE kind = ${kind} AND target = ${target} AND finished_at IS NULL
    ORDER BY started_at DESC LIMIT 1`);
  if (open) return { id: open.id, cutoff: open.cutoff ? new Date(open.cutoff) : null, resumed: true };
  const [created] = await t.query<{ id: string; cutoff: Date | null }>(sql`
    INSERT INTO key_rotation_runs (kind, target, cutoff, started_by)
    VALUES (${kind}, ${target}, ${kind === 'tenants' ? sql`coalesce(${cutoff ? cutoff.toISOString() : null}::timestamptz, now())` : sql`NULL`}, ${startedBy})
    RETURNING id, cutoff`);
  return { id: created!.id, cutoff: created!.cutoff ? new Date(created!.cutoff) : null, resumed: false };
}

async function saveProgress(t: Session, runId: string, progress: Record<string, unknown>): Promise<void> {
  await t.query(sql`UPDATE key_rotation_runs SET progress = ${JSON.stringify(progress)}::jsonb, updated_at = now() WHERE id = ${runId}`);
}

async function finishRun(t: Session, runId: string, ok: boolean, progress: Record<string, unknown>): Promise<void> {
  await t.query(sql`UPDATE key_rotation_runs SET progress = ${JSON.stringify(progress)}::jsonb, updated_at = now(), finished_at = now(),
    outcome = ${ok ? 'completed' : 'failed'} WHERE id = ${runId}`);
}

const actorLabel = (a: AuditEventInput['actor']) => `${a.type}${a.id ? `:${a.id}` : ''}`;

// ─── Reading pages ──────────────────────────────────────────────────────────

type DataKeyRow = { tenant_id: string; version: number; wrapped_key: string };
type CellRow = { id: string; sealed: string };

// Keyset pages order by the table's own columns (qualified: an unqualified
// ORDER BY name would sort by the ::text output column, which no index serves).
const readDataKeys = (batch: number) => (t: Session, after: DataKeyRow | undefined) => t.query<DataKeyRow>(sql`
  SELECT k.tenant_id::text AS tenant_id, k.version, k.wrapped_key FROM tenant_data_keys k WHERE k.wrapped_key IS NOT NULL
  ${after ? sql`AND (k.tenant_id, k.version) > (${after.tenant_id}::uuid, ${after.version}::int)` : sql``}
  ORDER BY k.tenant_id, k.version LIMIT ${batch}`);

const readColumn = (c: SealedColumn, batch: number, tenantId: string | undefined) => {
  const q = ident(c);
  return (t: Session, after: CellRow | undefined) => t.query<CellRow>(sql`
    SELECT x.${q.id}::text AS id, x.${q.column} AS sealed FROM ${q.table} x
    WHERE x.${q.column} IS NOT NULL ${tenantId === undefined ? sql`` : sql`AND x.tenant_id = ${tenantId}`}
    ${after === undefined ? sql`` : sql`AND x.${q.id} > ${after.id}::${q.cast}`}
    ORDER BY x.${q.id} LIMIT ${batch}`);
};

async function countRows(o: RotationOptions, from: SQL): Promise<number> {
  const [row] = await tx(o, (t) => t.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${from}`));
  return row?.n ?? 0;
}

/**
 * The compare-and-swap of one page of a registered column; returns what is
 * stored now. The page's id range bounds the scan whatever plan is chosen
 * (without it, stale statistics can hash the whole tenant on every page).
 */
async function swapColumn(t: Session, c: SealedColumn, swaps: Swaps, tenantId: string | undefined): Promise<CellRow[]> {
  if (swaps.ids.length === 0) return [];
  const q = ident(c);
  const first = swaps.ids[0]!;
  const last = swaps.ids[swaps.ids.length - 1]!;
  return t.query<CellRow>(sql`
    UPDATE ${q.table} AS x SET ${q.column} = v.next
    FROM unnest(${sql.param(swaps.ids)}::${q.arrayCast}, ${sql.param(swaps.olds)}::text[], ${sql.param(swaps.nexts)}::text[]) AS v(id, old, next)
    WHERE ${tenantId === undefined ? sql`` : sql`x.tenant_id = ${tenantId} AND`} x.${q.id} BETWEEN ${first}::${q.cast} AND ${last}::${q.cast}
      AND x.${q.id} = v.id AND x.${q.column} = v.old
    RETURNING x.${q.id}::text AS id, x.${q.column} AS sealed`);
}

interface Swaps {
  ids: string[];
  olds: string[];
  nexts: string[];
}
const noSwaps = (): Swaps => ({ ids: [], olds: [], nexts: [] });

/** Counters of one pass over some values. */
interface Pass {
  moved: number;
  verified: number;
  /** Swaps a concurrent write won: their new value was not opened in this pass. */
  lost: number;
  problems: RotationProblem[];
}
const newPass = (): Pass => ({ moved: 0, verified: 0, lost: 0, problems: [] });

// ─── Master-key rotation ────────────────────────────────────────────────────

export interface MasterRotationReport {
  runId: string;
  resumed: boolean;
  target: string;
  rewrappedDataKeys: number;
  resealedPlatformSecrets: number;
  verifiedDataKeys: number;
  verifiedPlatformSecrets: number;
  problems: RotationProblem[];
  ok: boolean;
}

/**
 * Rewraps every tenant data key and reseals every platform secret of the
 * registry under the keyring's primary, opening each under it. Values sealed
 * with data keys are not touched (that is data-key rotation).
 */
export async function rotateMasterKey(o: RotationOptions): Promise<MasterRotationReport> {
  const target = o.keyring.primary.id;
  await tx(o, (t) => syncMasterKeys(t, o.keyring));
  const run = await tx(o, (t) => openRun(t, 'master', target, actorLabel(o.actor), undefined));
  const report: MasterRotationReport = {
    runId: run.id, resumed: run.resumed, target, rewrappedDataKeys: 0, resealedPlatformSecrets: 0,
    verifiedDataKeys: 0, verifiedPlatformSecrets: 0, problems: [], ok: false,
  };
  const progress = () => ({ target, rewrappedDataKeys: report.rewrappedDataKeys, resealedPlatformSecrets: report.resealedPlatformSecrets });

  let lost = 0;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const keys = await rewrapDataKeys(o, run.id, report, progress);
    const secrets = newPass();
    for (const c of sealedColumns('platform')) {
      const p = await resealPlatformColumn(o, c, run.id, report, progress);
      secrets.moved += p.moved;
      secrets.verified += p.verified;
      secrets.lost += p.lost;
      secrets.problems.push(...p.problems);
    }
    report.rewrappedDataKeys += keys.moved;
    report.resealedPlatformSecrets += secrets.moved;
    report.verifiedDataKeys = keys.verified;
    report.verifiedPlatformSecrets = secrets.verified;
    report.problems = dedupe([...keys.problems, ...secrets.problems]);
    lost = keys.lost + secrets.lost;
    if (lost === 0) break; // every value was opened under the target in this pass
  }
  if (lost > 0) report.problems.push({ table: '*', column: '*', rowId: `${lost} value(s) kept changing during rotation`, code: 'ERR_NOT_ROTATED' });
  report.ok = report.problems.length === 0;

  await tx(o, async (t) => {
    await finishRun(t, run.id, report.ok, { ...progress(), verifiedDataKeys: report.verifiedDataKeys, verifiedPlatformSecrets: report.verifiedPlatformSecrets, problems: report.problems.length });
    await recordAuditEvent(t, {
      tenantId: null,
      actor: o.actor,
      action: 'keys.master_rotated',
      target: { type: 'master_key', id: target },
      outcome: report.ok ? 'success' : 'failure',
      ...(report.ok ? {} : { reason: `${report.problems.length} value(s) could not be moved or verified` }),
      metadata: {
        run: run.id, resumed: run.resumed, rewrappedDataKeys: report.rewrappedDataKeys, resealedPlatformSecrets: report.resealedPlatformSecrets,
        verifiedDataKeys: report.verifiedDataKeys, verifiedPlatformSecrets: report.verifiedPlatformSecrets, problems: report.problems.length,
      },
    });
  });
  return report;
}

async function rewrapDataKeys(o: RotationOptions, runId: string, report: MasterRotationReport, progress: () => Record<string, unknown>): Promise<Pass> {
  const target = report.target;
  const batch = o.batchSize ?? DEFAULT_BATCH;
  const phase = `rewrap tenant data keys under ${target}`;
  const pass = newPass();
  const problem = (r: { tenant_id: string; version: number }, err: unknown) =>
    pass.problems.push({ table: 'tenant_data_keys', column: 'wrapped_key', rowId: `${r.tenant_id}/v${r.version}`, tenantId: r.tenant_id, code: codeOf(err) });
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
        await saveProgress(t, runId, { ...progress(), rewrappedDataKeys: report.rewrappedDataKeys + pass.moved + swapped.length });
        return swapped.length;
      };
    },
    committed: (done) => o.onProgress?.({ phase, done, total: Math.max(total, done) }),
  });
  stored.splice(0).forEach(verify);
  return pass;
}

async function resealPlatformColumn(o: RotationOptions, c: SealedColumn, runId: string, report: MasterRotationReport, progress: () => Record<string, unknown>): Promise<Pass> {
  const target = report.target;
  const batch = o.batchSize ?? DEFAULT_BATCH;
  const q = ident(c);
  const phase = `reseal ${c.table}.${c.column} under ${target}`;
  const pass = newPass();
  const problem = (id: string, err: unknown) => pass.problems.push({ table: c.table, column: c.column, rowId: id, code: codeOf(err) });
  const verify = (r: CellRow) => {
    try {
      if (masterKeyIdOfSealed(r.sealed) !== target) throw failure('ERR_NOT_ROTATED', 'not under the target master key');
      openWithMasterKey(o.keyring, platformAadContext(c, r.id), r.sealed).fill(0);
      pass.verified++;
    } catch (err) {
      problem(r.id, err);
    }
  };
  let stored: CellRow[] = [];
  const total = o.onProgress ? await countRows(o, sql`${q.table} WHERE ${q.column} IS NOT NULL`) : 0;
  if (total > 0) o.onProgress?.({ phase, done: 0, total });
  pass.moved = await walk<CellRow>(o, {
    batch,
    read: readColumn(c, batch, undefined),
    process: (rows) => {
      stored.splice(0).forEach(verify);
      const swaps = noSwaps();
      for (const r of rows) {
        let under: string | undefined;
        try {
          under = masterKeyIdOfSealed(r.sealed);
        } catch (err) {
          problem(r.id, err);
          continue;
        }
        if (under === target) {
          verify(r);
          continue;
        }
        try {
          swaps.nexts.push(resealWithMasterKey(o.keyring, platformAadContext(c, r.id), r.sealed));
          swaps.ids.push(r.id);
          swaps.olds.push(r.sealed);
        } catch (err) {
          problem(r.id, err);
        }
      }
      if (swaps.ids.length === 0 && !o.beforeSwap) return undefined;
      return async (t) => {
        await o.beforeSwap?.(t, { table: c.table, column: c.column, rowIds: rows.map((r) => r.id) });
        const swapped = await swapColumn(t, c, swaps, undefined);
        pass.lost += swaps.ids.length - swapped.length;
        stored = stored.concat(swapped);
        if (swapped.length > 0) await saveProgress(t, runId, { ...progress(), resealedPlatformSecrets: report.resealedPlatformSecrets + pass.moved + swapped.length });
        return swapped.length;
      };
    },
    committed: (done) => total > 0 && o.onProgress?.({ phase, done, total: Math.max(total, done) }),
  });
  stored.splice(0).forEach(verify);
  return pass;
}

// ─── Data-key rotation ──────────────────────────────────────────────────────

export interface TenantRotationReport {
  tenantId: string;
  /** `no-key`: the tenant has never sealed anything. */
  status: 'rotated' | 'no-key' | 'failed';
  resumed: boolean;
  fromVersions: number[];
  toVersion: number | null;
  reencrypted: number;
  verified: number;
  destroyedVersions: number[];
  problems: RotationProblem[];
}

interface KeyVersionRow {
  version: number;
  state: 'active' | 'previous' | 'destroyed';
  wrapped_key: string | null;
}

/**
 * Switches the tenant to a new data key (or resumes an unfinished switch),
 * re-encrypts every tenant-scope column of the registry in batches, opening
 * every value under the new version, then destroys the old versions.
 */
export async function rotateTenantKey(o: RotationOptions, tenantIdInput: string): Promise<TenantRotationReport> {
  const tenantId = tenantIdInput.toLowerCase();
  const report: TenantRotationReport = {
    tenantId, status: 'failed', resumed: false, fromVersions: [], toVersion: null, reencrypted: 0, verified: 0, destroyedVersions: [], problems: [],
  };

  // 1. Switch, under the exclusive lock: from here on every new seal uses the new version.
  const switched = await tx(o, async (t) => {
    await holdTenantKeysExclusive(t, tenantId);
    const versions = await t.query<KeyVersionRow>(sql`
      SELECT version, state, wrapped_key FROM tenant_data_keys WHERE tenant_id = ${tenantId} ORDER BY version FOR UPDATE`);
    const active = versions.find((v) => v.state === 'active');
    if (!active) return undefined;
    const previous = versions.filter((v) => v.state === 'previous');
    if (previous.length > 0) return { active: active.version, previous: previous.map((v) => v.version), resumed: true };
    const next = Math.max(...versions.map((v) => v.version)) + 1;
    const key = generateDataKey();
    try {
      const wrapped = wrapDataKey(o.keyring, { tenantId, version: next }, key);
      await t.query(sql`UPDATE tenant_data_keys SET state = 'previous' WHERE tenant_id = ${tenantId} AND version = ${active.version}`);
      await t.query(sql`INSERT INTO tenant_data_keys (tenant_id, version, state, wrapped_key) VALUES (${tenantId}, ${next}, 'active', ${wrapped})`);
    } finally {
      key.fill(0);
    }
    return { active: next, previous: [active.version], resumed: false };
  });
  if (!switched) {
    report.status = 'no-key';
    return report;
  }
  report.resumed = switched.resumed;
  report.fromVersions = switched.previous;
  report.toVersion = switched.active;

  // 2. The tenant's live versions, unwrapped once for this run.
  const keys = new Map<number, KeyObject>();
  try {
    const rows = await tx(o, (t) => t.query<KeyVersionRow>(sql`
      SELECT version, state, wrapped_key FROM tenant_data_keys WHERE tenant_id = ${tenantId} AND wrapped_key IS NOT NULL`));
    const keyProblems: RotationProblem[] = [];
    for (const r of rows) {
      try {
        const bytes = unwrapDataKey(o.keyring, { tenantId, version: r.version }, r.wrapped_key!);
        keys.set(r.version, importAeadKey(bytes)); // imported once: every value of the run uses it
        bytes.fill(0);
      } catch (err) {
        keyProblems.push({ table: 'tenant_data_keys', column: 'wrapped_key', rowId: `${tenantId}/v${r.version}`, tenantId, code: codeOf(err) });
      }
    }
    report.problems = keyProblems;
    if (!keys.has(switched.active)) return await finishTenant(o, report);

    // 3. Re-encrypt and verify; a value a concurrent writer changed meanwhile is opened by one more pass.
    let lost = 0;
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      const columns = newPass();
      for (const c of sealedColumns('tenant')) {
        const p = await reencryptColumn(o, c, tenantId, switched.active, keys);
        columns.moved += p.moved;
        columns.verified += p.verified;
        columns.lost += p.lost;
        columns.problems.push(...p.problems);
      }
      report.reencrypted += columns.moved;
      report.verified = columns.verified;
      report.problems = dedupe([...keyProblems, ...columns.problems]);
      lost = columns.lost;
      if (lost === 0) break;
    }
    if (lost > 0) report.problems.push({ table: '*', column: '*', rowId: `${lost} value(s) kept changing during rotation`, tenantId, code: 'ERR_NOT_ROTATED' });

    // 4. Destroy the old versions once nothing needs them, under the exclusive lock again.
    return await finishTenant(o, report);
  } finally {
    keys.clear(); // KeyObjects cannot be zeroed; dropping them lets their native memory go
  }
}

async function finishTenant(o: RotationOptions, report: TenantRotationReport): Promise<TenantRotationReport> {
  const { tenantId } = report;
  await tx(o, async (t) => {
    let ok = report.problems.length === 0;
    if (ok) {
      await holdTenantKeysExclusive(t, tenantId);
      for (const c of sealedColumns('tenant')) {
        const q = ident(c);
        const [left] = await t.query<{ n: number }>(sql`
          SELECT count(*)::int AS n FROM ${q.table} WHERE tenant_id = ${tenantId} AND ${q.column} IS NOT NULL
            AND split_part(${q.column}, '.', 2) <> ${String(report.toVersion)}`);
        if ((left?.n ?? 0) > 0) {
          ok = false;
          report.problems.push({ table: c.table, column: c.column, rowId: `${left!.n} row(s)`, tenantId, code: 'ERR_NOT_ROTATED' });
        }
      }
    }
    if (ok) {
      const destroyed = await t.query<{ version: number }>(sql`
        UPDATE tenant_data_keys SET state = 'destroyed', wrapped_key = NULL, destroyed_at = now()
        WHERE tenant_id = ${tenantId} AND state = 'previous' RETURNING version`);
      report.destroyedVersions = destroyed.map((d) => d.version).sort((a, b) => a - b);
    }
    report.status = ok ? 'rotated' : 'failed';
    await recordAuditEvent(t, {
      tenantId: null,
      actor: o.actor,
      action: 'keys.tenant_rotated',
      target: { type: 'tenant', id: tenantId },
      outcome: ok ? 'success' : 'failure',
      ...(ok ? {} : { reason: `${report.problems.length} value(s) could not be re-encrypted or verified; old key versions kept` }),
      metadata: {
        fromVersions: report.fromVersions, toVersion: report.toVersion, resumed: report.resumed,
        reencrypted: report.reencrypted, verified: report.verified, destroyedVersions: report.destroyedVersions, problems: report.problems.length,
      },
    });
  });
  return report;
}

/** One pass over a tenant's values in one column: re-encrypt what is not under `active`, open everything under it. */
async function reencryptColumn(o: RotationOptions, c: SealedColumn, tenantId: string, active: number, keys: Map<number, KeyObject>): Promise<Pass> {
  const q = ident(c);
  const batch = o.batchSize ?? DEFAULT_BATCH;
  const phase = `tenant ${tenantId}: re-encrypt ${c.table}.${c.column} with data key v${active}`;
  const activeKey = keys.get(active)!;
  const pass = newPass();
  const context = (rowId: string, version: number) => ({ tenantId, table: c.table, column: c.column, rowId, dataKeyVersion: version });
  const problem = (id: string, err: unknown) => pass.problems.push({ table: c.table, column: c.column, rowId: id, tenantId, code: codeOf(err) });
  const verify = (r: CellRow) => {
    try {
      openValue(activeKey, context(r.id, active), r.sealed).fill(0);
      pass.verified++;
    } catch (err) {
      problem(r.id, err);
    }
  };
  let stored: CellRow[] = [];
  const total = o.onProgress ? await countRows(o, sql`${q.table} WHERE tenant_id = ${tenantId} AND ${q.column} IS NOT NULL`) : 0;
  if (total > 0) o.onProgress?.({ phase, done: 0, total });
  pass.moved = await walk<CellRow>(o, {
    batch,
    read: readColumn(c, batch, tenantId),
    process: (rows) => {
      stored.splice(0).forEach(verify);
      const swaps = noSwaps();
      for (const r of rows) {
        try {
          const version = dataKeyVersionOf(r.sealed);
          if (version === active) {
            verify(r);
            continue;
          }
          const key = keys.get(version);
          if (!key) throw failure('ERR_DATAKEY_MISSING', `data key version ${version} is gone`);
          const plaintext = openValue(key, context(r.id, version), r.sealed);
          try {
            swaps.nexts.push(sealValue(activeKey, context(r.id, active), plaintext));
          } finally {
            plaintext.fill(0);
          }
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
        return swapped.length;
      };
    },
    committed: (done) => total > 0 && o.onProgress?.({ phase, done, total: Math.max(total, done) }),
  });
  stored.splice(0).forEach(verify);
  return pass;
}

// ─── Many tenants ───────────────────────────────────────────────────────────

export interface TenantsRotationReport {
  runId: string;
  resumed: boolean;
  cutoff: Date;
  tenants: TenantRotationReport[];
  ok: boolean;
}

/**
 * Rotates every tenant whose active data key was created before `cutoff`, and
 * finishes any tenant rotation left half-done. A tenant rotated by this run
 * gets a key newer than the cutoff, so a resumed run (same `target`, same
 * stored cutoff) skips it.
 */
export async function rotateTenantKeys(o: RotationOptions, opts: { target: string; cutoff?: Date }): Promise<TenantsRotationReport> {
  const run = await tx(o, (t) => openRun(t, 'tenants', opts.target, actorLabel(o.actor), opts.cutoff));
  const cutoff = run.cutoff ?? opts.cutoff ?? new Date();
  const due = sql`((state = 'active' AND created_at < ${cutoff.toISOString()}::timestamptz) OR state = 'previous')`;
  const reports: TenantRotationReport[] = [];
  const total = await countRows(o, sql`(SELECT DISTINCT tenant_id FROM tenant_data_keys WHERE ${due}) AS due`);
  const phase = `rotate tenant data keys created before ${cutoff.toISOString()}`;
  o.onProgress?.({ phase, done: 0, total });
  const summary = () => ({ cutoff: cutoff.toISOString(), tenantsDone: reports.length, failed: reports.filter((r) => r.status === 'failed').length });
  let after: string | undefined;
  for (;;) {
    const page = await tx(o, (t) => t.query<{ tenant_id: string }>(sql`
      SELECT k.tenant_id::text AS tenant_id FROM tenant_data_keys k WHERE ${due}
      ${after === undefined ? sql`` : sql`AND k.tenant_id > ${after}::uuid`}
      GROUP BY k.tenant_id ORDER BY k.tenant_id LIMIT 100`));
    if (page.length === 0) break;
    for (const d of page) {
      reports.push(await rotateTenantKey(o, d.tenant_id));
      o.onProgress?.({ phase, done: reports.length, total: Math.max(total, reports.length) });
      await tx(o, (t) => saveProgress(t, run.id, summary()));
      await pace(o);
    }
    after = page[page.length - 1]!.tenant_id;
  }
  const ok = reports.every((r) => r.status !== 'failed');
  await tx(o, (t) => finishRun(t, run.id, ok, summary()));
  return { runId: run.id, resumed: run.resumed, cutoff, tenants: reports, ok };
}

// ─── Verification of everything ─────────────────────────────────────────────

export interface VerifyReport {
  dataKeys: number;
  platformSecrets: number;
  tenantValues: number;
  problems: RotationProblem[];
}

/**
 * Opens every sealed value in the database, each under its own key: every
 * data key unwraps, every platform secret opens, every tenant value opens
 * (`ocsuite keys verify`). Read-only; values under an older, still
 * configured master key count as readable.
 */
export async function verifyAllSealed(o: RotationOptions): Promise<VerifyReport> {
  const batch = o.batchSize ?? DEFAULT_BATCH;
  const report: VerifyReport = { dataKeys: 0, platformSecrets: 0, tenantValues: 0, problems: [] };
  await walk<DataKeyRow>(o, {
    batch,
    read: readDataKeys(batch),
    process: (rows) => {
      for (const r of rows) {
        try {
          unwrapDataKey(o.keyring, { tenantId: r.tenant_id, version: r.version }, r.wrapped_key).fill(0);
          report.dataKeys++;
        } catch (err) {
          report.problems.push({ table: 'tenant_data_keys', column: 'wrapped_key', rowId: `${r.tenant_id}/v${r.version}`, tenantId: r.tenant_id, code: codeOf(err) });
        }
      }
      return undefined;
    },
  });
  o.onProgress?.({ phase: 'verify tenant data keys', done: report.dataKeys, total: report.dataKeys + report.problems.length });
  for (const c of sealedColumns('platform')) {
    await walk<CellRow>(o, {
      batch,
      read: readColumn(c, batch, undefined),
      process: (rows) => {
        for (const r of rows) {
          try {
            openWithMasterKey(o.keyring, platformAadContext(c, r.id), r.sealed).fill(0);
            report.platformSecrets++;
          } catch (err) {
            report.problems.push({ table: c.table, column: c.column, rowId: r.id, code: codeOf(err) });
          }
        }
        return undefined;
      },
    });
  }
  o.onProgress?.({ phase: 'verify platform secrets', done: report.platformSecrets, total: report.platformSecrets });
  type TenantCellRow = { tenant_id: string; id: string; sealed: string; wrapped: string | null };
  for (const c of sealedColumns('tenant')) {
    const q = ident(c);
    await walk<TenantCellRow>(o, {
      batch,
      // The wrapped key is read in the same snapshot as the value (wrappedKeyFor).
      read: (t, after) => t.query<TenantCellRow>(sql`
        SELECT x.tenant_id::text AS tenant_id, x.${q.id}::text AS id, x.${q.column} AS sealed,
          ${wrappedKeyFor(sql`x.tenant_id`, sql`x.${q.column}`)} AS wrapped
        FROM ${q.table} x WHERE x.${q.column} IS NOT NULL
        ${after ? sql`AND (x.tenant_id, x.${q.id}) > (${after.tenant_id}::uuid, ${after.id}::${q.cast})` : sql``}
        ORDER BY x.tenant_id, x.${q.id} LIMIT ${batch}`),
      process: (rows) => {
        for (const r of rows) {
          try {
            openWithWrappedKey(o.keyring, { tenantId: r.tenant_id, table: c.table, column: c.column, rowId: r.id }, r.sealed, r.wrapped).fill(0);
            report.tenantValues++;
          } catch (err) {
            report.problems.push({ table: c.table, column: c.column, rowId: r.id, tenantId: r.tenant_id, code: codeOf(err) });
          }
        }
        return undefined;
      },
    });
    o.onProgress?.({ phase: `verify ${c.table}.${c.column}`, done: report.tenantValues, total: report.tenantValues });
  }
  return report;
}

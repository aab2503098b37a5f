import { sql, type SQL } from 'drizzle-orm';
import type { Database, Session } from '../../db/client.ts';
import { withMaintenance } from '../../db/transaction.ts';
import { recordAuditEvent, type AuditEventInput } from '../audit/events.ts';
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
 * The work is always "every value not yet under the target key", found from
 * the data itself, so a run that is killed resumes by running again: nothing
 * is lost (a value is replaced only by a ciphertext of the same plaintext, in
 * one statement) and nothing is encrypted twice (a value already under the
 * target key is skipped, and every swap is a compare-and-swap on the old
 * ciphertext, so a concurrent write always wins). Each batch is its own short
 * transaction as the maintenance role. Every run ends by opening every value
 * it is responsible for under the new key.
 */

export interface RotationOptions {
  db: Database;
  keyring: Keyring;
  statementTimeoutMs: number;
  /** Who asked: an operator at the CLI or the scheduler. */
  actor: AuditEventInput['actor'];
  /** Rows per transaction (default 200). */
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

const DEFAULT_BATCH = 200;
const MAX_PASSES = 3;
const ID_CASTS = { uuid: sql`uuid`, text: sql`text` } as const;

function tx<T>(o: RotationOptions, fn: (t: Session) => Promise<T>): Promise<T> {
  return withMaintenance(o.db, { statementTimeoutMs: o.statementTimeoutMs }, fn);
}

async function pace(o: RotationOptions): Promise<void> {
  if (o.signal?.aborted) throw new RotationAborted('rotation stopped; run the same command again to resume');
  if (o.throttleMs && o.throttleMs > 0) await new Promise((r) => setTimeout(r, o.throttleMs));
  if (o.signal?.aborted) throw new RotationAborted('rotation stopped; run the same command again to resume');
}

const problemCode = (err: unknown) => (isCryptoError(err) ? err.code : 'ERR_UNEXPECTED');
const ident = (c: SealedColumn) => ({ table: sql.identifier(c.table), column: sql.identifier(c.column), id: sql.identifier(c.idColumn), cast: ID_CASTS[c.idType] });

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
 * registry under the keyring's primary. Values sealed with data keys are not
 * touched (that is data-key rotation).
 */
export async function rotateMasterKey(o: RotationOptions): Promise<MasterRotationReport> {
  const target = o.keyring.primary.id;
  await tx(o, (t) => syncMasterKeys(t, o.keyring));
  const run = await tx(o, (t) => openRun(t, 'master', target, actorLabel(o.actor), undefined));
  const report: MasterRotationReport = {
    runId: run.id, resumed: run.resumed, target, rewrappedDataKeys: 0, resealedPlatformSecrets: 0,
    verifiedDataKeys: 0, verifiedPlatformSecrets: 0, problems: [], ok: false,
  };
  const progress = () => ({ target, rewrappedDataKeys: report.rewrappedDataKeys, resealedPlatformSecrets: report.resealedPlatformSecrets, problems: report.problems.length });

  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const moved = (await rewrapDataKeys(o, run.id, report, progress)) + (await resealPlatformSecrets(o, run.id, report, progress));
    if (moved === 0) break; // a pass that moved nothing: what is left are problems
  }
  const verified = await verifyMaster(o);
  report.verifiedDataKeys = verified.dataKeys;
  report.verifiedPlatformSecrets = verified.platformSecrets;
  report.problems = dedupe([...report.problems, ...verified.problems]);
  report.ok = report.problems.length === 0;

  await tx(o, async (t) => {
    await finishRun(t, run.id, report.ok, { ...progress(), verifiedDataKeys: report.verifiedDataKeys, verifiedPlatformSecrets: report.verifiedPlatformSecrets });
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

async function rewrapDataKeys(o: RotationOptions, runId: string, report: MasterRotationReport, progress: () => Record<string, unknown>): Promise<number> {
  const target = report.target;
  const batch = o.batchSize ?? DEFAULT_BATCH;
  const [count] = await tx(o, (t) => t.query<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM tenant_data_keys WHERE wrapped_key IS NOT NULL AND split_part(wrapped_key, '.', 2) <> ${target}`));
  const total = count?.n ?? 0;
  let done = 0;
  let moved = 0;
  let after: { tenantId: string; version: number } | undefined;
  const phase = `rewrap tenant data keys under ${target}`;
  if (total > 0) o.onProgress?.({ phase, done, total });
  for (;;) {
    const step = await tx(o, async (t) => {
      const rows = await t.query<{ tenant_id: string; version: number; wrapped_key: string }>(sql`
        SELECT tenant_id::text AS tenant_id, version, wrapped_key FROM tenant_data_keys
        WHERE wrapped_key IS NOT NULL AND split_part(wrapped_key, '.', 2) <> ${target}
        ${after ? sql`AND (tenant_id, version) > (${after.tenantId}::uuid, ${after.version}::int)` : sql``}
        ORDER BY tenant_id, version LIMIT ${batch}`);
      const swaps: SQL[] = [];
      for (const r of rows) {
        try {
          const next = rewrapDataKey(o.keyring, { tenantId: r.tenant_id, version: r.version }, r.wrapped_key);
          swaps.push(sql`(${r.tenant_id}, ${r.version}, ${r.wrapped_key}, ${next})`);
        } catch (err) {
          report.problems.push({ table: 'tenant_data_keys', column: 'wrapped_key', rowId: `${r.tenant_id}/v${r.version}`, tenantId: r.tenant_id, code: problemCode(err) });
        }
      }
      let swapped = 0;
      await o.beforeSwap?.(t, { table: 'tenant_data_keys', column: 'wrapped_key', rowIds: rows.map((r) => `${r.tenant_id}/v${r.version}`) });
      if (swaps.length > 0) {
        // Compare-and-swap: a key that changed since it was read (a concurrent rotation) is left alone.
        const updated = await t.query(sql`
          UPDATE tenant_data_keys AS k SET wrapped_key = v.next
          FROM (VALUES ${sql.join(swaps, sql`, `)}) AS v(tenant_id, version, old, next)
          WHERE k.tenant_id = v.tenant_id::uuid AND k.version = v.version::int AND k.wrapped_key = v.old
          RETURNING k.version`);
        swapped = updated.length;
      }
      report.rewrappedDataKeys += swapped;
      await saveProgress(t, runId, progress());
      return { rows, swapped };
    });
    if (step.rows.length === 0) break;
    const last = step.rows[step.rows.length - 1]!;
    after = { tenantId: last.tenant_id, version: last.version };
    done += step.rows.length;
    moved += step.swapped;
    o.onProgress?.({ phase, done, total: Math.max(total, done) });
    if (step.rows.length < batch) break;
    await pace(o);
  }
  return moved;
}

async function resealPlatformSecrets(o: RotationOptions, runId: string, report: MasterRotationReport, progress: () => Record<string, unknown>): Promise<number> {
  const target = report.target;
  const batch = o.batchSize ?? DEFAULT_BATCH;
  let moved = 0;
  for (const c of sealedColumns('platform')) {
    const q = ident(c);
    const [count] = await tx(o, (t) => t.query<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM ${q.table} WHERE ${q.column} IS NOT NULL AND split_part(${q.column}, '.', 2) <> ${target}`));
    const total = count?.n ?? 0;
    const phase = `reseal ${c.table}.${c.column} under ${target}`;
    if (total === 0) continue;
    o.onProgress?.({ phase, done: 0, total });
    let done = 0;
    let after: string | undefined;
    for (;;) {
      const step = await tx(o, async (t) => {
        const rows = await t.query<{ id: string; sealed: string }>(sql`
          SELECT ${q.id}::text AS id, ${q.column} AS sealed FROM ${q.table}
          WHERE ${q.column} IS NOT NULL AND split_part(${q.column}, '.', 2) <> ${target}
          ${after === undefined ? sql`` : sql`AND ${q.id} > ${after}::${q.cast}`}
          ORDER BY ${q.id} LIMIT ${batch}`);
        const swaps: SQL[] = [];
        for (const r of rows) {
          try {
            const next = resealWithMasterKey(o.keyring, platformAadContext(c, r.id), r.sealed);
            swaps.push(sql`(${r.id}, ${r.sealed}, ${next})`);
          } catch (err) {
            report.problems.push({ table: c.table, column: c.column, rowId: r.id, code: problemCode(err) });
          }
        }
        let swapped = 0;
        await o.beforeSwap?.(t, { table: c.table, column: c.column, rowIds: rows.map((r) => r.id) });
        if (swaps.length > 0) {
          const updated = await t.query(sql`
            UPDATE ${q.table} AS x SET ${q.column} = v.next
            FROM (VALUES ${sql.join(swaps, sql`, `)}) AS v(id, old, next)
            WHERE x.${q.id} = v.id::${q.cast} AND x.${q.column} = v.old RETURNING 1`);
          swapped = updated.length;
        }
        report.resealedPlatformSecrets += swapped;
        await saveProgress(t, runId, progress());
        return { rows, swapped };
      });
      if (step.rows.length === 0) break;
      after = step.rows[step.rows.length - 1]!.id;
      done += step.rows.length;
      moved += step.swapped;
      o.onProgress?.({ phase, done, total: Math.max(total, done) });
      if (step.rows.length < batch) break;
      await pace(o);
    }
  }
  return moved;
}

/** Keyset scan of every live wrapped data key, in read-only batches. */
async function scanDataKeys(o: RotationOptions, visit: (r: { tenant_id: string; version: number; wrapped_key: string }) => void): Promise<void> {
  const batch = Math.max(o.batchSize ?? DEFAULT_BATCH, 500);
  let after: { tenantId: string; version: number } | undefined;
  for (;;) {
    const rows = await tx(o, (t) => t.query<{ tenant_id: string; version: number; wrapped_key: string }>(sql`
      SELECT tenant_id::text AS tenant_id, version, wrapped_key FROM tenant_data_keys WHERE wrapped_key IS NOT NULL
      ${after ? sql`AND (tenant_id, version) > (${after.tenantId}::uuid, ${after.version}::int)` : sql``}
      ORDER BY tenant_id, version LIMIT ${batch}`));
    rows.forEach(visit);
    if (rows.length < batch) return;
    const last = rows[rows.length - 1]!;
    after = { tenantId: last.tenant_id, version: last.version };
  }
}

/** Keyset scan of one platform column. */
async function scanPlatformColumn(o: RotationOptions, c: SealedColumn, visit: (r: { id: string; sealed: string }) => void): Promise<void> {
  const q = ident(c);
  const batch = Math.max(o.batchSize ?? DEFAULT_BATCH, 500);
  let after: string | undefined;
  for (;;) {
    const rows = await tx(o, (t) => t.query<{ id: string; sealed: string }>(sql`
      SELECT ${q.id}::text AS id, ${q.column} AS sealed FROM ${q.table} WHERE ${q.column} IS NOT NULL
      ${after === undefined ? sql`` : sql`AND ${q.id} > ${after}::${q.cast}`}
      ORDER BY ${q.id} LIMIT ${batch}`));
    rows.forEach(visit);
    if (rows.length < batch) return;
    after = rows[rows.length - 1]!.id;
  }
}

const notRotated = (): Error => Object.assign(new Error('not under the target key'), { code: 'ERR_NOT_ROTATED' });
const codeOf = (err: unknown) => (err as { code?: unknown })?.code === 'ERR_NOT_ROTATED' ? 'ERR_NOT_ROTATED' : problemCode(err);

/**
 * Opens every data key and platform secret. With `requireMasterKey`, a value
 * that opens but is under another master key is a problem too (ERR_NOT_ROTATED).
 */
async function verifyMasterLevel(o: RotationOptions, requireMasterKey: string | undefined): Promise<{ dataKeys: number; platformSecrets: number; problems: RotationProblem[] }> {
  const problems: RotationProblem[] = [];
  let dataKeys = 0;
  await scanDataKeys(o, (r) => {
    try {
      if (requireMasterKey !== undefined && masterKeyIdOf(r.wrapped_key) !== requireMasterKey) throw notRotated();
      unwrapDataKey(o.keyring, { tenantId: r.tenant_id, version: r.version }, r.wrapped_key).fill(0);
      dataKeys++;
    } catch (err) {
      problems.push({ table: 'tenant_data_keys', column: 'wrapped_key', rowId: `${r.tenant_id}/v${r.version}`, tenantId: r.tenant_id, code: codeOf(err) });
    }
  });
  o.onProgress?.({ phase: 'verify tenant data keys', done: dataKeys, total: dataKeys + problems.length });
  let platformSecrets = 0;
  for (const c of sealedColumns('platform')) {
    let n = 0;
    await scanPlatformColumn(o, c, (r) => {
      try {
        if (requireMasterKey !== undefined && masterKeyIdOfSealed(r.sealed) !== requireMasterKey) throw notRotated();
        openWithMasterKey(o.keyring, platformAadContext(c, r.id), r.sealed).fill(0);
        n++;
      } catch (err) {
        problems.push({ table: c.table, column: c.column, rowId: r.id, code: codeOf(err) });
      }
    });
    platformSecrets += n;
    o.onProgress?.({ phase: `verify ${c.table}.${c.column}`, done: n, total: n });
  }
  return { dataKeys, platformSecrets, problems };
}

const verifyMaster = (o: RotationOptions) => verifyMasterLevel(o, o.keyring.primary.id);

function dedupe(problems: RotationProblem[]): RotationProblem[] {
  const seen = new Map<string, RotationProblem>();
  for (const p of problems) {
    const key = `${p.table}.${p.column}:${p.rowId}`;
    if (!seen.has(key)) seen.set(key, p); // the first report of a row is the most specific
  }
  return [...seen.values()];
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
 * re-encrypts every tenant-scope column of the registry in batches, opens
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
  const keys = new Map<number, Buffer>();
  try {
    const rows = await tx(o, (t) => t.query<KeyVersionRow>(sql`
      SELECT version, state, wrapped_key FROM tenant_data_keys WHERE tenant_id = ${tenantId} AND wrapped_key IS NOT NULL`));
    for (const r of rows) {
      try {
        keys.set(r.version, unwrapDataKey(o.keyring, { tenantId, version: r.version }, r.wrapped_key!));
      } catch (err) {
        report.problems.push({ table: 'tenant_data_keys', column: 'wrapped_key', rowId: `${tenantId}/v${r.version}`, tenantId, code: problemCode(err) });
      }
    }
    const activeKey = keys.get(switched.active);
    if (!activeKey) return finishTenant(o, report, false);

    // 3. Re-encrypt, then verify; a value written concurrently under an old version is picked up by the next pass.
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      report.problems = report.problems.filter((p) => p.table === 'tenant_data_keys');
      let stale = 0;
      for (const c of sealedColumns('tenant')) report.reencrypted += await reencryptColumn(o, c, tenantId, switched.active, keys, report);
      report.verified = 0;
      for (const c of sealedColumns('tenant')) {
        const v = await verifyTenantColumn(o, c, tenantId, switched.active, activeKey);
        report.verified += v.verified;
        stale += v.stale;
        report.problems.push(...v.problems);
      }
      report.problems = dedupe(report.problems);
      if (stale === 0) break;
    }

    // 4. Destroy the old versions once nothing needs them, under the exclusive lock again.
    const ok = report.problems.length === 0;
    return await finishTenant(o, report, ok);
  } finally {
    for (const k of keys.values()) k.fill(0);
  }
}

async function finishTenant(o: RotationOptions, report: TenantRotationReport, verifiedOk: boolean): Promise<TenantRotationReport> {
  const { tenantId } = report;
  await tx(o, async (t) => {
    let ok = verifiedOk;
    if (ok) {
      await holdTenantKeysExclusive(t, tenantId);
      for (const c of sealedColumns('tenant')) {
        const q = ident(c);
        const [left] = await t.query<{ n: number }>(sql`
          SELECT count(*)::int AS n FROM ${q.table} WHERE tenant_id = ${tenantId} AND ${q.column} IS NOT NULL
            AND split_part(${q.column}, '.', 2) <> ${String(report.toVersion)}`);
        if ((left?.n ?? 0) > 0) ok = false;
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

async function reencryptColumn(o: RotationOptions, c: SealedColumn, tenantId: string, active: number, keys: Map<number, Buffer>, report: TenantRotationReport): Promise<number> {
  const q = ident(c);
  const batch = o.batchSize ?? DEFAULT_BATCH;
  const phase = `tenant ${tenantId}: re-encrypt ${c.table}.${c.column} with data key v${active}`;
  const activeKey = keys.get(active)!;
  const [count] = await tx(o, (t) => t.query<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM ${q.table} WHERE tenant_id = ${tenantId} AND ${q.column} IS NOT NULL
      AND split_part(${q.column}, '.', 2) <> ${String(active)}`));
  const total = count?.n ?? 0;
  if (total === 0) return 0;
  o.onProgress?.({ phase, done: 0, total });
  let done = 0;
  let moved = 0;
  let after: string | undefined;
  for (;;) {
    const step = await tx(o, async (t) => {
      const rows = await t.query<{ id: string; sealed: string }>(sql`
        SELECT ${q.id}::text AS id, ${q.column} AS sealed FROM ${q.table}
        WHERE tenant_id = ${tenantId} AND ${q.column} IS NOT NULL AND split_part(${q.column}, '.', 2) <> ${String(active)}
        ${after === undefined ? sql`` : sql`AND ${q.id} > ${after}::${q.cast}`}
        ORDER BY ${q.id} LIMIT ${batch}`);
      const swaps: SQL[] = [];
      for (const r of rows) {
        const cell = { tenantId, table: c.table, column: c.column, rowId: r.id };
        try {
          const version = dataKeyVersionOf(r.sealed);
          const key = keys.get(version);
          if (!key) throw Object.assign(new Error('data key version missing'), { code: 'ERR_DATAKEY_MISSING' });
          const plaintext = openValue(key, { ...cell, dataKeyVersion: version }, r.sealed);
          try {
            swaps.push(sql`(${r.id}, ${r.sealed}, ${sealValue(activeKey, { ...cell, dataKeyVersion: active }, plaintext)})`);
          } finally {
            plaintext.fill(0);
          }
        } catch (err) {
          report.problems.push({ table: c.table, column: c.column, rowId: r.id, tenantId, code: (err as { code?: string }).code ?? problemCode(err) });
        }
      }
      let swapped = 0;
      await o.beforeSwap?.(t, { table: c.table, column: c.column, rowIds: rows.map((r) => r.id) });
      if (swaps.length > 0) {
        const updated = await t.query(sql`
          UPDATE ${q.table} AS x SET ${q.column} = v.next
          FROM (VALUES ${sql.join(swaps, sql`, `)}) AS v(id, old, next)
          WHERE x.tenant_id = ${tenantId} AND x.${q.id} = v.id::${q.cast} AND x.${q.column} = v.old RETURNING 1`);
        swapped = updated.length;
      }
      return { rows, swapped };
    });
    if (step.rows.length === 0) break;
    after = step.rows[step.rows.length - 1]!.id;
    done += step.rows.length;
    moved += step.swapped;
    o.onProgress?.({ phase, done, total: Math.max(total, done) });
    if (step.rows.length < batch) break;
    await pace(o);
  }
  return moved;
}

/** Opens every value of the tenant in one column under the active version. */
async function verifyTenantColumn(o: RotationOptions, c: SealedColumn, tenantId: string, active: number, activeKey: Buffer): Promise<{ verified: number; stale: number; problems: RotationProblem[] }> {
  const q = ident(c);
  const batch = Math.max(o.batchSize ?? DEFAULT_BATCH, 500);
  const problems: RotationProblem[] = [];
  let verified = 0;
  let stale = 0;
  let after: string | undefined;
  for (;;) {
    const rows = await tx(o, (t) => t.query<{ id: string; sealed: string }>(sql`
      SELECT ${q.id}::text AS id, ${q.column} AS sealed FROM ${q.table} WHERE tenant_id = ${tenantId} AND ${q.column} IS NOT NULL
      ${after === undefined ? sql`` : sql`AND ${q.id} > ${after}::${q.cast}`}
      ORDER BY ${q.id} LIMIT ${batch}`));
    for (const r of rows) {
      try {
        if (dataKeyVersionOf(r.sealed) !== active) {
          stale++;
          problems.push({ table: c.table, column: c.column, rowId: r.id, tenantId, code: 'ERR_NOT_ROTATED' });
          continue;
        }
        openValue(activeKey, { tenantId, table: c.table, column: c.column, rowId: r.id, dataKeyVersion: active }, r.sealed).fill(0);
        verified++;
      } catch (err) {
        problems.push({ table: c.table, column: c.column, rowId: r.id, tenantId, code: problemCode(err) });
      }
    }
    if (rows.length < batch) break;
    after = rows[rows.length - 1]!.id;
  }
  return { verified, stale, problems };
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
  const reports: TenantRotationReport[] = [];
  const [count] = await tx(o, (t) => t.query<{ n: number }>(sql`
    SELECT count(DISTINCT tenant_id)::int AS n FROM tenant_data_keys
    WHERE (state = 'active' AND created_at < ${cutoff.toISOString()}::timestamptz) OR state = 'previous'`));
  const total = count?.n ?? 0;
  const phase = `rotate tenant data keys created before ${cutoff.toISOString()}`;
  o.onProgress?.({ phase, done: 0, total });
  let after: string | undefined;
  for (;;) {
    const due = await tx(o, (t) => t.query<{ tenant_id: string }>(sql`
      SELECT DISTINCT tenant_id::text AS tenant_id FROM tenant_data_keys
      WHERE ((state = 'active' AND created_at < ${cutoff.toISOString()}::timestamptz) OR state = 'previous')
      ${after === undefined ? sql`` : sql`AND tenant_id > ${after}::uuid`}
      ORDER BY tenant_id LIMIT 100`));
    if (due.length === 0) break;
    for (const d of due) {
      reports.push(await rotateTenantKey(o, d.tenant_id));
      o.onProgress?.({ phase, done: reports.length, total: Math.max(total, reports.length) });
      await tx(o, (t) => saveProgress(t, run.id, { cutoff: cutoff.toISOString(), tenantsDone: reports.length, failed: reports.filter((r) => r.status === 'failed').length }));
      await pace(o);
    }
    after = due[due.length - 1]!.tenant_id;
  }
  const ok = reports.every((r) => r.status !== 'failed');
  await tx(o, (t) => finishRun(t, run.id, ok, { cutoff: cutoff.toISOString(), tenantsDone: reports.length, failed: reports.filter((r) => r.status === 'failed').length }));
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
 * Opens every sealed value in the database: every data key unwraps, every
 * platform secret opens, every tenant value opens with its own version
 * (`ocsuite keys verify`). Read-only.
 */
export async function verifyAllSealed(o: RotationOptions): Promise<VerifyReport> {
  const { dataKeys, platformSecrets, problems } = await verifyMasterLevel(o, undefined);
  let tenantValues = 0;
  const batch = Math.max(o.batchSize ?? DEFAULT_BATCH, 500);
  for (const c of sealedColumns('tenant')) {
    const q = ident(c);
    let after: { tenantId: string; id: string } | undefined;
    for (;;) {
      const rows = await tx(o, (t) => t.query<{ tenant_id: string; id: string; sealed: string; wrapped: string | null }>(sql`
        SELECT x.tenant_id::text AS tenant_id, x.${q.id}::text AS id, x.${q.column} AS sealed,
          ${wrappedKeyFor(sql`x.tenant_id`, sql`x.${q.column}`)} AS wrapped
        FROM ${q.table} x WHERE x.${q.column} IS NOT NULL
        ${after ? sql`AND (x.tenant_id, x.${q.id}) > (${after.tenantId}::uuid, ${after.id}::${q.cast})` : sql``}
        ORDER BY x.tenant_id, x.${q.id} LIMIT ${batch}`));
      for (const r of rows) {
        try {
          openWithWrappedKey(o.keyring, { tenantId: r.tenant_id, table: c.table, column: c.column, rowId: r.id }, r.sealed, r.wrapped).fill(0);
          tenantValues++;
        } catch (err) {
          problems.push({ table: c.table, column: c.column, rowId: r.id, tenantId: r.tenant_id, code: problemCode(err) });
        }
      }
      if (rows.length < batch) break;
      const last = rows[rows.length - 1]!;
      after = { tenantId: last.tenant_id, id: last.id };
    }
    o.onProgress?.({ phase: `verify ${c.table}.${c.column}`, done: tenantValues, total: tenantValues });
  }
  return { dataKeys, platformSecrets, tenantValues, problems };
}

import type { KeyObject } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { recordAuditEvent } from '../audit/events.ts';
import { importAeadKey } from './aead.ts';
import { dataKeyProblem } from './data-key-pass.ts';
import { generateDataKey, unwrapDataKey, wrapDataKey } from './datakey.ts';
import { countRows, maintenanceTx, pace, type RotationOptions } from './rotation-options.ts';
import { dedupe, failure, keptChanging, untilSettled, type RotationProblem } from './rotation-passes.ts';
import { actorLabel, finishRun, openRun, saveProgress } from './rotation-runs.ts';
import { dataKeyVersionOf, openValue, sealValue } from './sealed.ts';
import { columnIdent, sealedColumnsPass, type ColumnKeys } from './sealed-column-pass.ts';
import { sealedColumns, type SealedColumn } from './sealed-columns.ts';
import { holdTenantKeysExclusive } from './tenant-keys.ts';

// Data-key rotation: one tenant (`rotateTenantKey`), or every tenant whose key is due (`rotateTenantKeys`).

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

/** Tenant columns are sealed with the tenant's data key: moved to version `active`, AAD per cell and version (sealed.ts). */
function underDataKey(tenantId: string, active: number, keys: Map<number, KeyObject>): ColumnKeys {
  const activeKey = keys.get(active)!;
  const context = (c: SealedColumn, rowId: string, version: number) => ({ tenantId, table: c.table, column: c.column, rowId, dataKeyVersion: version });
  return {
    tenantId,
    phase: (c) => `tenant ${tenantId}: re-encrypt ${c.table}.${c.column} with data key v${active}`,
    reseal: (c, rowId, sealed) => {
      const version = dataKeyVersionOf(sealed);
      if (version === active) return undefined;
      const key = keys.get(version);
      if (!key) throw failure('ERR_DATAKEY_MISSING', `data key version ${version} is gone`);
      const plaintext = openValue(key, context(c, rowId, version), sealed);
      try {
        return sealValue(activeKey, context(c, rowId, active), plaintext);
      } finally {
        plaintext.fill(0);
      }
    },
    verify: (c, rowId, sealed) => openValue(activeKey, context(c, rowId, active), sealed).fill(0),
  };
}

/**
 * Switches the tenant to a new data key (or resumes an unfinished switch),
 * re-encrypts every tenant-scope column of the registry in batches, opening
 * every value under the new version, then destroys the old versions.
 */
export async function rotateTenantKey(o: RotationOptions, tenantIdInput: string): Promise<TenantRotationReport> {
  const tenantId = tenantIdInput.toLowerCase();
  const columns = sealedColumns('tenant');
  const report: TenantRotationReport = {
    tenantId, status: 'failed', resumed: false, fromVersions: [], toVersion: null, reencrypted: 0, verified: 0, destroyedVersions: [], problems: [],
  };

  // 1. Switch, under the exclusive lock: from here on every new seal uses the new version.
  const switched = await maintenanceTx(o, async (t) => {
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
    const rows = await maintenanceTx(o, (t) => t.query<KeyVersionRow>(sql`
      SELECT version, state, wrapped_key FROM tenant_data_keys WHERE tenant_id = ${tenantId} AND wrapped_key IS NOT NULL`));
    const keyProblems: RotationProblem[] = [];
    for (const r of rows) {
      try {
        const bytes = unwrapDataKey(o.keyring, { tenantId, version: r.version }, r.wrapped_key!);
        keys.set(r.version, importAeadKey(bytes)); // imported once: every value of the run uses it
        bytes.fill(0);
      } catch (err) {
        keyProblems.push(dataKeyProblem({ tenant_id: tenantId, version: r.version }, err));
      }
    }
    report.problems = keyProblems;
    if (!keys.has(switched.active)) return await finishTenant(o, report, columns);

    // 3. Re-encrypt and verify; a value a concurrent writer changed meanwhile is opened by one more pass.
    const dataKeys = underDataKey(tenantId, switched.active, keys);
    const lost = await untilSettled(async () => {
      const pass = await sealedColumnsPass(o, columns, dataKeys);
      report.reencrypted += pass.moved;
      report.verified = pass.verified;
      report.problems = dedupe([...keyProblems, ...pass.problems]);
      return pass.lost;
    });
    if (lost > 0) report.problems.push(keptChanging(lost, tenantId));

    // 4. Destroy the old versions once nothing needs them, under the exclusive lock again.
    return await finishTenant(o, report, columns);
  } finally {
    keys.clear(); // KeyObjects cannot be zeroed; dropping them lets their native memory go
  }
}

async function finishTenant(o: RotationOptions, report: TenantRotationReport, columns: readonly SealedColumn[]): Promise<TenantRotationReport> {
  const { tenantId } = report;
  await maintenanceTx(o, async (t) => {
    let ok = report.problems.length === 0;
    if (ok) {
      await holdTenantKeysExclusive(t, tenantId);
      for (const c of columns) {
        const q = columnIdent(c);
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
  const run = await maintenanceTx(o, (t) => openRun(t, 'tenants', opts.target, actorLabel(o.actor), opts.cutoff));
  const cutoff = run.cutoff ?? opts.cutoff ?? new Date();
  const due = sql`((state = 'active' AND created_at < ${cutoff.toISOString()}::timestamptz) OR state = 'previous')`;
  const reports: TenantRotationReport[] = [];
  const total = await countRows(o, sql`(SELECT DISTINCT tenant_id FROM tenant_data_keys WHERE ${due}) AS due`);
  const phase = `rotate tenant data keys created before ${cutoff.toISOString()}`;
  o.onProgress?.({ phase, done: 0, total });
  const summary = () => ({ cutoff: cutoff.toISOString(), tenantsDone: reports.length, failed: reports.filter((r) => r.status === 'failed').length });
  let after: string | undefined;
  for (;;) {
    const page = await maintenanceTx(o, (t) => t.query<{ tenant_id: string }>(sql`
      SELECT k.tenant_id::text AS tenant_id FROM tenant_data_keys k WHERE ${due}
      ${after === undefined ? sql`` : sql`AND k.tenant_id > ${after}::uuid`}
      GROUP BY k.tenant_id ORDER BY k.tenant_id LIMIT 100`));
    if (page.length === 0) break;
    for (const d of page) {
      reports.push(await rotateTenantKey(o, d.tenant_id));
      o.onProgress?.({ phase, done: reports.length, total: Math.max(total, reports.length) });
      await maintenanceTx(o, (t) => saveProgress(t, run.id, summary()));
      await pace(o);
    }
    after = page[page.length - 1]!.tenant_id;
  }
  const ok = reports.every((r) => r.status !== 'failed');
  await maintenanceTx(o, (t) => finishRun(t, run.id, ok, summary()));
  return { runId: run.id, resumed: run.resumed, cutoff, tenants: reports, ok };
}

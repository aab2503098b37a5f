import { recordAuditEvent } from '../audit/events.ts';
import { rewrapDataKeys } from './data-key-pass.ts';
import { syncMasterKeys } from './master-key-store.ts';
import { maintenanceTx, type RotationOptions } from './rotation-options.ts';
import { dedupe, failure, keptChanging, untilSettled, type RotationProblem } from './rotation-passes.ts';
import { actorLabel, finishRun, openRun, saveProgress } from './rotation-runs.ts';
import { masterKeyIdOfSealed, openWithMasterKey, resealWithMasterKey } from './sealed.ts';
import { sealedColumnsPass, type ColumnKeys } from './sealed-column-pass.ts';
import { platformAadContext, sealedColumns } from './sealed-columns.ts';

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

/** Platform columns are sealed with the master key: moved to `target`, AAD `<table>|<column>|<row id>`. */
const underMasterKey = (o: RotationOptions, target: string, afterSwap: ColumnKeys['afterSwap']): ColumnKeys => ({
  tenantId: undefined,
  phase: (c) => `reseal ${c.table}.${c.column} under ${target}`,
  reseal: (c, rowId, sealed) => (masterKeyIdOfSealed(sealed) === target ? undefined : resealWithMasterKey(o.keyring, platformAadContext(c, rowId), sealed)),
  verify: (c, rowId, sealed) => {
    if (masterKeyIdOfSealed(sealed) !== target) throw failure('ERR_NOT_ROTATED', 'not under the target master key');
    openWithMasterKey(o.keyring, platformAadContext(c, rowId), sealed).fill(0);
  },
  afterSwap,
});

/**
 * Rewraps every tenant data key and reseals every platform secret of the
 * registry under the keyring's primary, opening each under it. Values sealed
 * with data keys are not touched (that is data-key rotation).
 */
export async function rotateMasterKey(o: RotationOptions): Promise<MasterRotationReport> {
  const target = o.keyring.primary.id;
  await maintenanceTx(o, (t) => syncMasterKeys(t, o.keyring));
  const run = await maintenanceTx(o, (t) => openRun(t, 'master', target, actorLabel(o.actor), undefined));
  const report: MasterRotationReport = {
    runId: run.id, resumed: run.resumed, target, rewrappedDataKeys: 0, resealedPlatformSecrets: 0,
    verifiedDataKeys: 0, verifiedPlatformSecrets: 0, problems: [], ok: false,
  };
  const progress = () => ({ target, rewrappedDataKeys: report.rewrappedDataKeys, resealedPlatformSecrets: report.resealedPlatformSecrets });
  const platformKeys = underMasterKey(o, target, async (t, rows) => {
    if (rows > 0) await saveProgress(t, run.id, { ...progress(), resealedPlatformSecrets: report.resealedPlatformSecrets + rows });
  });

  const lost = await untilSettled(async () => {
    const keys = await rewrapDataKeys(o, target, (t, rows) => saveProgress(t, run.id, { ...progress(), rewrappedDataKeys: report.rewrappedDataKeys + rows }));
    const secrets = await sealedColumnsPass(o, sealedColumns('platform'), platformKeys);
    report.rewrappedDataKeys += keys.moved;
    report.resealedPlatformSecrets += secrets.moved;
    report.verifiedDataKeys = keys.verified;
    report.verifiedPlatformSecrets = secrets.verified;
    report.problems = dedupe([...keys.problems, ...secrets.problems]);
    return keys.lost + secrets.lost;
  });
  if (lost > 0) report.problems.push(keptChanging(lost));
  report.ok = report.problems.length === 0;

  await maintenanceTx(o, async (t) => {
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

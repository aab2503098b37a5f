/**
 * Handlers of the audit component's scheduled jobs (src/jobs/schedules.ts
 * lists them; its owner wires `handler: ({ db }) => …(db)`):
 * - `translog.checkpoint.publish` (every 15 min): sign a checkpoint of every
 *   log whose head moved, push each to the witness if configured;
 * - `access-log.prune` (daily): delete access-log lines older than the
 *   retention, as the maintenance role, itself a platform audit event.
 * - `translog.key.rotate` (yearly): retire the log signing key for a new one.
 * A handler that cannot run throws, so the job is retried, dead-lettered and
 * alerted — never silently skipped.
 */
import type { Database } from '../../db/client.ts';
import type { PlatformHandler } from '../jobs/port.ts';
import { AuditError } from './errors.ts';
import { DEFAULT_RETENTION_DAYS, pruneAccessLogs } from './retention.ts';
import { auditKernelOfDb } from './service.ts';

export function checkpointPublishHandler(db: Database): PlatformHandler {
  return async () => {
    const kernel = auditKernelOfDb(db);
    if (!kernel) throw new AuditError('ERR_AUDIT_KEY', 'no audit kernel is bound to this database in this process (call auditKernel(platform) at boot)');
    const { failed } = await kernel.publishCheckpoints();
    // A log that cannot be checkpointed is a tamper signal: fail the job so it is retried, dead-lettered and alerted.
    if (failed.length > 0) throw new AuditError('ERR_AUDIT_LOG_CORRUPT', `${failed.length} log(s) not checkpointed: ${failed.slice(0, 5).map((f) => `${f.log}: ${f.error}`).join('; ')}`);
  };
}

export function accessLogPruneHandler(db: Database, opts: { retentionDays?: number; statementTimeoutMs?: number } = {}): PlatformHandler {
  return async () => {
    await pruneAccessLogs(db, opts.statementTimeoutMs ?? 60_000, opts.retentionDays ?? DEFAULT_RETENTION_DAYS, { type: 'system', id: 'schedule:access-log.prune' });
  };
}

export function logKeyRotationHandler(db: Database): PlatformHandler {
  return async () => {
    const kernel = auditKernelOfDb(db);
    if (!kernel) throw new AuditError('ERR_AUDIT_KEY', 'no audit kernel is bound to this database in this process (call auditKernel(platform) at boot)');
    await kernel.rotateKey({ type: 'system', id: 'schedule:translog.key.rotate' });
  };
}

import type { Database } from '../../db/client.ts';
import type { PlatformHandler } from '../jobs/port.ts';
import type { Keyring } from './keyring.ts';
import { rotateTenantKeys } from './rotation.ts';

/**
 * The scheduled rotation (jobs/schedules.ts entry `keys.rotate`, daily): every
 * tenant data key older than OCSUITE_KEY_ROTATION_DAYS (default 90, so each
 * tenant's key turns over quarterly) gets a new version and its secrets are
 * re-encrypted; rotations left half-done are finished. It is resumable like
 * the CLI: a run cut short (timeout, restart) continues on the next attempt.
 *
 * Master-key rotation is not automatic: new master-key material comes from
 * the operator's secret store, and every node must know a key before it
 * becomes primary (docs/security/encryption-key-rotation.md).
 *
 * The schedule registry hands a handler only the database, so boot binds the
 * keyring and settings to that database here.
 */
interface Binding {
  keyring: Keyring;
  keyRotationDays: number;
  statementTimeoutMs: number;
}

const bindings = new WeakMap<Database, Binding>();

export function bindKeyRotation(db: Database, binding: Binding): void {
  bindings.set(db, binding);
}

export class KeyRotationJobError extends Error {
  readonly code = 'ERR_KEY_ROTATION_JOB';
}

export function keyRotationHandler(db: Database): PlatformHandler {
  return async (job) => {
    const b = bindings.get(db);
    if (!b) throw new KeyRotationJobError('no keyring is bound to this database in this process (bindKeyRotation at boot)');
    const cutoff = new Date(Date.now() - b.keyRotationDays * 86_400_000);
    const report = await rotateTenantKeys(
      { db, keyring: b.keyring, statementTimeoutMs: b.statementTimeoutMs, actor: { type: 'system', id: 'schedule:keys.rotate' }, signal: job.signal },
      { target: 'schedule', cutoff },
    );
    const failed = report.tenants.filter((t) => t.status === 'failed');
    // A failure makes the job fail: retried, then dead-lettered and alerted, never silently skipped.
    if (failed.length > 0) throw new KeyRotationJobError(`data-key rotation failed for ${failed.length} tenant(s): ${failed.slice(0, 5).map((t) => t.tenantId).join(', ')}`);
  };
}

import { sql, type SQL } from 'drizzle-orm';
import type { Database, Session } from '../../db/client.ts';
import { withMaintenance } from '../../db/transaction.ts';
import type { AuditEventInput } from '../audit/events.ts';
import type { Keyring } from './keyring.ts';

/** What every rotation and `keys verify` is given (docs/security/encryption-key-rotation.md). */
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

export class RotationAborted extends Error {
  readonly code = 'ERR_ROTATION_ABORTED';
}

const DEFAULT_BATCH = 500;

export const batchSizeOf = (o: RotationOptions): number => o.batchSize ?? DEFAULT_BATCH;

/** Each batch is one short transaction as the maintenance role. */
export function maintenanceTx<T>(o: RotationOptions, fn: (t: Session) => Promise<T>): Promise<T> {
  return withMaintenance(o.db, { statementTimeoutMs: o.statementTimeoutMs }, fn);
}

/** Between batches: honours the abort signal and the throttle. */
export async function pace(o: RotationOptions): Promise<void> {
  if (o.signal?.aborted) throw new RotationAborted('rotation stopped; run the same command again to resume');
  if (o.throttleMs && o.throttleMs > 0) await new Promise((r) => setTimeout(r, o.throttleMs));
  if (o.signal?.aborted) throw new RotationAborted('rotation stopped; run the same command again to resume');
}

/** `SELECT count(*) FROM <from>`, for progress totals. */
export async function countRows(o: RotationOptions, from: SQL): Promise<number> {
  const [row] = await maintenanceTx(o, (t) => t.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${from}`));
  return row?.n ?? 0;
}

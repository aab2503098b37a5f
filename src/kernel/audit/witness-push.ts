/**
 * The witness push on the job system (issue #22 §4): one job per checkpoint and
 * witness on the platform queue `translog.witness.push`. A witness that is down
 * or answers 5xx fails the attempt (retried with back-off, then dead-lettered
 * and alerted like every job); a witness that refuses for a reason a retry
 * cannot fix (400, 403, 422, a fork, a cosignature that does not verify) ends
 * the job as a dead letter at once. tlog-witness "add-checkpoint" 409 with a
 * size means the witness last cosigned another size: the push asks again, in the
 * same attempt, with a consistency proof from that size.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config/config.ts';
import type { Database } from '../../db/client.ts';
import { withMaintenance } from '../../db/transaction.ts';
import type { Egress } from '../egress/index.ts';
import { PoisonError } from '../jobs/errors.ts';
import type { JobInfo, JobQueue, PlatformHandler, QueueDefinition } from '../jobs/port.ts';
import { dbNodeReader } from '../translog/db-log.ts';
import { consistencyProof, parseCheckpoint } from '../translog/index.ts';
import { acceptCosignatures, checkpointNoteAt, hasCosignature, lastCosignedSize } from './cosignatures.ts';
import { recordAuditEvent } from './events.ts';
import { platformLog, tenantLog, PLATFORM_LOG_NAME, type AuditLog } from './logs.ts';
import { addCheckpoint, addCheckpointBody, parseWitnesses, pushCheckpoint, type CosigningWitness } from './witness.ts';

export const WITNESS_QUEUE: QueueDefinition = {
  name: 'translog.witness.push',
  scope: 'platform',
  // 2, 4, 8 … 1024 s (about half an hour in all): a later checkpoint is pushed anyway.
  retryLimit: 10,
  retryDelaySeconds: 2,
  expireInSeconds: 60,
  maxDepth: 10_000,
  concurrency: 2,
};

/** The Standard Webhooks witness (OCSUITE_WITNESS_URL) in job payloads. */
export const WEBHOOK_WITNESS = 'webhook';

export interface WitnessJob {
  /** 'platform' or a tenant id. */
  log: string;
  size: number;
  /** The C2SP witness's name, or `webhook`. */
  witness: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function parseWitnessJob(data: unknown): WitnessJob {
  const d = data as Partial<WitnessJob> | null;
  if (!d || typeof d.log !== 'string' || (d.log !== PLATFORM_LOG_NAME && !UUID.test(d.log))) throw new Error('log must be platform or a tenant id');
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 1) throw new Error('size must be a positive integer');
  if (typeof d.witness !== 'string' || d.witness.length === 0 || d.witness.length > 300) throw new Error('witness must be a name');
  return { log: d.log, size: d.size, witness: d.witness };
}

export interface WitnessDeps {
  db: Database;
  config: Pick<Config, 'witnesses' | 'witnessLogs' | 'witnessUrl' | 'witnessSecret' | 'statementTimeoutMs'>;
  egress: Egress;
  log: Pick<Logger, 'warn' | 'info'>;
}

const logByName = (name: string): AuditLog => (name === PLATFORM_LOG_NAME ? platformLog() : tenantLog(name));

/** The witnesses a log's checkpoints go to (OCSUITE_WITNESS_LOGS=platform keeps tenant logs to themselves). */
export function witnessesFor(config: WitnessDeps['config'], logName: string): string[] {
  const names: string[] = [];
  if (config.witnessLogs === 'all' || logName === PLATFORM_LOG_NAME) names.push(...parseWitnesses(config.witnesses).filter((w) => w.url !== undefined).map((w) => w.verifier.name));
  if (config.witnessUrl && config.witnessSecret) names.push(WEBHOOK_WITNESS);
  return names;
}

/**
 * Enqueues the pushes of one checkpoint (idempotent per log, size and witness:
 * a second call within the drivers' idempotency window adds nothing).
 */
export async function enqueueWitnessPushes(jobs: JobQueue, config: WitnessDeps['config'], logName: string, size: number): Promise<number> {
  if (size < 1) return 0;
  let n = 0;
  for (const witness of witnessesFor(config, logName)) {
    const r = await jobs.send(WITNESS_QUEUE.name, { log: logName, size, witness } satisfies WitnessJob, { idempotencyKey: `${logName}:${size}:${witness}` });
    if (r.created) n++;
  }
  return n;
}

/** The handler of `translog.witness.push`. */
export function witnessPushHandler(deps: WitnessDeps): PlatformHandler<WitnessJob> {
  const witnesses = new Map(parseWitnesses(deps.config.witnesses).map((w) => [w.verifier.name, w]));
  const maintenance = <T>(fn: Parameters<typeof withMaintenance<T>>[2]) => withMaintenance(deps.db, { statementTimeoutMs: deps.config.statementTimeoutMs }, fn);

  return async (job: JobInfo<WitnessJob>) => {
    const { log: logName, size, witness } = job.data;
    const log = logByName(logName);
    const note = await maintenance((tx) => checkpointNoteAt(tx, log, size));
    if (note === undefined) throw new PoisonError(`log ${logName} has no checkpoint at size ${size}`);

    if (witness === WEBHOOK_WITNESS) {
      const { witnessUrl, witnessSecret } = deps.config;
      if (!witnessUrl || !witnessSecret) return; // configured away since: nothing to deliver to
      const status = await pushCheckpoint(deps.egress, { url: witnessUrl, secret: witnessSecret }, { origin: parseCheckpoint(note).origin, size, note });
      if (status < 200 || status >= 300) throw new Error(`witness webhook answered ${status}`);
      return;
    }
    const w = witnesses.get(witness);
    if (!w?.url) return; // no longer configured, or not pushed to
    await pushToWitness(deps, maintenance, w, log, size, note);
  };
}

async function pushToWitness(
  deps: WitnessDeps,
  maintenance: <T>(fn: Parameters<typeof withMaintenance<T>>[2]) => Promise<T>,
  w: CosigningWitness,
  log: AuditLog,
  size: number,
  note: string,
): Promise<void> {
  const { verifier } = w;
  const known = await maintenance(async (tx) => ({ done: await hasCosignature(tx, log, size, verifier), last: await lastCosignedSize(tx, log, verifier) }));
  if (known.done) return;
  // Start from the size this witness last cosigned for us; a 409 corrects it.
  let old = known.last ?? 0;
  for (let round = 0; round < 3; round++) {
    if (old > size) {
      deps.log.info({ witness: verifier.name, log: log.name, size, witnessSize: old }, 'witness has cosigned a later checkpoint; this one is not asked for');
      return;
    }
    const proof = old > 0 && old < size ? await maintenance((tx) => consistencyProof(dbNodeReader(tx, log), old, size)) : [];
    const answer = await addCheckpoint(deps.egress, { url: w.url! }, addCheckpointBody(old, proof, note));
    if (answer.kind === 'conflict') {
      if (answer.size === old) throw new Error(`witness ${verifier.name} answered 409 with the size it was sent (${old})`);
      old = answer.size;
      continue;
    }
    if (answer.kind === 'cosigned') {
      const r = await maintenance((tx) => acceptCosignatures(tx, {
        log, size, lines: answer.lines, verifier, via: 'push', actor: { type: 'system', id: 'job:translog.witness.push' },
      }));
      if (r.refused !== undefined) throw new PoisonError(r.refused);
      return;
    }
    if (answer.kind === 'fork') {
      await maintenance((tx) => recordAuditEvent(tx, {
        tenantId: null, actor: { type: 'system', id: 'job:translog.witness.push' }, action: 'audit.witness.conflict',
        target: { type: 'translog_checkpoint', id: `${log.name}/${size}` }, outcome: 'failure',
        reason: `witness ${verifier.name} holds another root at size ${size}`, metadata: { witness: verifier.name, log: log.name, size },
      }));
      throw new PoisonError(`witness ${verifier.name} holds another root for ${log.name} at size ${size} (409): a split view or a rewritten log`);
    }
    if (answer.status === 404) {
      deps.log.warn({ witness: verifier.name, log: log.name }, 'witness does not follow this log (404): configure the origin at the witness, or OCSUITE_WITNESS_LOGS=platform');
      return;
    }
    const detail = `witness ${verifier.name} answered ${answer.status} for ${log.name} at size ${size}: ${answer.detail}`;
    // 400, 403 (log key unknown to the witness), 422 (proof refused): a retry sends the same request.
    if ([400, 403, 422].includes(answer.status)) throw new PoisonError(detail);
    throw new Error(detail);
  }
  throw new Error(`witness ${verifier.name} kept answering 409 with another size`);
}

/**
 * The audit kernel bound to one running platform: the log signing key (loaded
 * once), checkpoints with witness push, proofs. Kept per Platform in a
 * WeakMap so modules and jobs share one instance without widening Platform.
 */
import { sql } from 'drizzle-orm';
import type { Database, Session } from '../../db/client.ts';
import { withMaintenance } from '../../db/transaction.ts';
import type { Platform } from '../platform.ts';
import { dbNodeReader, proofNodeReader, readHead } from '../translog/db-log.ts';
import { LRUCache } from 'lru-cache';
import { consistencyProof, inclusionProof, type NodeReader } from '../translog/index.ts';
import { checkpointHead, type StoredCheckpoint } from './checkpoints.ts';
import type { AuditEventInput } from './events.ts';
import { loadLogSigner, LogKeyRetiredError, rotateLogKey, type LogSigner, type RotationResult } from './log-key.ts';
import { logOf, platformLog, tenantLog, type AuditLog } from './logs.ts';
import { enqueueWitnessPushes, parseWitnessJob, WITNESS_QUEUE, witnessesFor, witnessPushHandler } from './witness-push.ts';
import { parseWitnesses } from './witness.ts';
import { acceptCosignatures, checkpointNoteAt, CosignatureRefusedError } from './cosignatures.ts';
import type { Cosignature } from '../translog/index.ts';

export interface InclusionAnswer {
  index: number;
  size: number;
  leafHash: Buffer;
  proof: Buffer[];
}

export class ProofRangeError extends Error {
  readonly code = 'ERR_AUDIT_PROOF_RANGE';
}

export interface AuditKernel {
  signer(): Promise<LogSigner>;
  /** Retires the log key for a new one (same name); this process signs with the new key from now on. */
  rotateKey(actor: AuditEventInput['actor']): Promise<RotationResult>;
  /** The current checkpoint of a tenant's log (signing a new one if the head moved), in a runtime transaction. */
  tenantCheckpoint(tenantId: string): Promise<StoredCheckpoint>;
  /**
   * Checkpoints every log whose head moved (the publication job), as the
   * maintenance role. A log that fails its pre-signing check is reported and
   * skipped; the others are still published.
   */
  publishCheckpoints(): Promise<{ published: number; failed: { log: string; error: string }[] }>;
  /** The current checkpoint of the platform log (signing a new one if the head moved), as the maintenance role. */
  platformCheckpoint(): Promise<StoredCheckpoint>;
  /** Reads of the platform log (maintenance role: it has no runtime grants). */
  readPlatform<T>(fn: (tx: Session) => Promise<T>): Promise<T>;
  /**
   * Cosignature lines an operator brings (a witness the platform cannot push
   * to): those of each configured witness named in them are verified and
   * stored; refusals are audited and answered with CosignatureRefusedError.
   */
  acceptCosignatures(input: { log: string; size: number; lines: string[]; actor: AuditEventInput['actor'] }): Promise<Cosignature[]>;
  headSize(tx: Session, log: AuditLog): Promise<number>;
  inclusion(tx: Session, log: AuditLog, index: number, size: number): Promise<InclusionAnswer>;
  consistency(tx: Session, log: AuditLog, from: number, to: number): Promise<Buffer[]>;
}

/** What the kernel needs of a platform (a CLI builds just this, without booting jobs or mail). */
export type AuditPlatform = Pick<Platform, 'config' | 'db' | 'keyring' | 'log' | 'withTenant' | 'withIdentity' | 'egress'> & {
  /** Witness pushes are jobs; without a job system (a CLI) they are tried once, inline. */
  jobs?: Platform['jobs'];
};

const kernels = new WeakMap<AuditPlatform, AuditKernel>();
// Scheduled jobs receive only the database: they find the kernel of the platform that opened it.
const kernelsByDb = new WeakMap<Database, AuditKernel>();

export function auditKernel(platform: AuditPlatform): AuditKernel {
  let kernel = kernels.get(platform);
  if (!kernel) {
    kernels.set(platform, (kernel = createAuditKernel(platform)));
    kernelsByDb.set(platform.db, kernel);
  }
  return kernel;
}

/** The kernel bound to a database by auditKernel(platform) in this process, if any. */
export function auditKernelOfDb(db: Database): AuditKernel | undefined {
  return kernelsByDb.get(db);
}

function createAuditKernel(platform: AuditPlatform): AuditKernel {
  let signer: Promise<LogSigner> | undefined;
  const loadSigner = () => {
    signer ??= platform.withIdentity((tx) => loadLogSigner(tx, platform.keyring, platform.config.publicUrl));
    signer.catch(() => (signer = undefined));
    return signer;
  };
  const opts = { statementTimeoutMs: platform.config.statementTimeoutMs };
  // Upper tree nodes of this database's logs (write-once, so never stale), keyed by log name:
  // about 64 bytes of hash and key each, so at most ~15 MB.
  const upperNodes = new LRUCache<string, Buffer>({ max: 200_000 });
  /**
   * Signs with the cached key; when a rotation (another process, the yearly
   * schedule) retired it, the signing transaction refuses it, and this drops
   * the cache, loads the new key and signs once more.
   */
  async function withSigner<T>(sign: (s: LogSigner) => Promise<T>): Promise<T> {
    const s = await loadSigner();
    try {
      return await sign(s);
    } catch (err) {
      if (!(err instanceof LogKeyRetiredError)) throw err;
      if (signer) signer = undefined;
      return sign(await loadSigner());
    }
  }

  /** Hands a new checkpoint to every witness of its log: jobs (with retries), or once inline without a job system. */
  async function witness(logName: string, cp: StoredCheckpoint): Promise<void> {
    if (!cp.created) return;
    try {
      if (platform.jobs) {
        await enqueueWitnessPushes(platform.jobs, platform.config, logName, cp.size);
        return;
      }
      const push = witnessPushHandler({ db: platform.db, config: platform.config, egress: platform.egress, log: platform.log });
      for (const w of witnessesFor(platform.config, logName)) {
        const data = parseWitnessJob({ log: logName, size: cp.size, witness: w });
        await push({ id: 'inline', queue: WITNESS_QUEUE.name, tenantId: null, attempt: 1, maxAttempts: 1, data, signal: new AbortController().signal })
          .catch((err: unknown) => platform.log.warn({ origin: cp.origin, size: cp.size, witness: w, err: (err as Error).message }, 'witness push failed'));
      }
    } catch (err) {
      // The checkpoint is signed and stored either way; the next publication run enqueues again.
      platform.log.warn({ origin: cp.origin, size: cp.size, err: (err as Error).message }, 'witness push not enqueued');
    }
  }

  /**
   * Catch-up of the publication job: the latest checkpoint of each log that a
   * C2SP witness has not cosigned yet (a push lost, a witness added) is enqueued
   * again; the job's idempotency key keeps it to one job per checkpoint.
   */
  async function enqueueMissing(): Promise<void> {
    const jobs = platform.jobs;
    const witnesses = parseWitnesses(platform.config.witnesses).filter((w) => w.url !== undefined);
    if (!jobs || witnesses.length === 0) return;
    const tenants = platform.config.witnessLogs === 'all';
    for (const w of witnesses) {
      const rows = await withMaintenance(platform.db, opts, (tx) => tx.query<{ log: string; size: unknown }>(sql`
        WITH latest AS (
          SELECT 'platform'::text AS log, max(size) AS size FROM platform_translog_checkpoints
          WHERE created_at > now() - interval '1 day' HAVING max(size) > 0
          UNION ALL
          SELECT tenant_id::text, max(size) FROM translog_checkpoints
          WHERE ${tenants} AND created_at > now() - interval '1 day' GROUP BY tenant_id HAVING max(size) > 0)
        SELECT l.log, l.size FROM latest l
        WHERE NOT EXISTS (SELECT 1 FROM platform_translog_cosignatures s
                          WHERE l.log = 'platform' AND s.size >= l.size AND s.witness = ${w.verifier.name} AND s.key_id = ${w.verifier.keyId.toString('hex')})
          AND NOT EXISTS (SELECT 1 FROM translog_cosignatures s
                          WHERE l.log <> 'platform' AND s.tenant_id::text = l.log AND s.size >= l.size AND s.witness = ${w.verifier.name} AND s.key_id = ${w.verifier.keyId.toString('hex')})
        LIMIT 1000`));
      for (const r of rows) {
        await jobs.send(WITNESS_QUEUE.name, { log: r.log, size: Number(r.size), witness: w.verifier.name }, { idempotencyKey: `${r.log}:${Number(r.size)}:${w.verifier.name}` });
      }
    }
  }

  return {
    signer: loadSigner,
    async rotateKey(actor) {
      const r = await withMaintenance(platform.db, { statementTimeoutMs: Math.max(opts.statementTimeoutMs, 60_000) }, (tx) =>
        rotateLogKey(tx, platform.keyring, platform.config.publicUrl, actor));
      signer = undefined;
      return r;
    },

    async tenantCheckpoint(tenantId) {
      const log = tenantLog(tenantId);
      const cp = await withSigner((s) => platform.withTenant({ tenantId }, (tx) => checkpointHead(tx, log, s)));
      await witness(log.name, cp);
      return cp;
    },

    async publishCheckpoints() {
      const moved = await withMaintenance(platform.db, opts, (tx) => tx.query<{ tenant_id: string | null }>(sql`
        SELECT h.tenant_id::text FROM translog_heads h
        WHERE h.size > coalesce((SELECT max(c.size) FROM translog_checkpoints c WHERE c.tenant_id = h.tenant_id), -1)
        UNION ALL
        SELECT NULL FROM platform_translog_heads h
        WHERE h.size > coalesce((SELECT max(c.size) FROM platform_translog_checkpoints c WHERE c.log = h.log), -1)`));
      let published = 0;
      const failed: { log: string; error: string }[] = [];
      for (const { tenant_id } of moved) {
        const log = logOf(tenant_id);
        try {
          const cp = await withSigner((s) => withMaintenance(platform.db, opts, (tx) => checkpointHead(tx, log, s)));
          if (cp.created) published++;
          await witness(log.name, cp);
        } catch (err) {
          platform.log.error({ log: log.name, err: (err as Error).message }, 'audit log not checkpointed');
          failed.push({ log: log.name, error: (err as Error).message });
        }
      }
      await enqueueMissing().catch((err: unknown) => platform.log.warn({ err: (err as Error).message }, 'witness catch-up not enqueued'));
      return { published, failed };
    },

    async platformCheckpoint() {
      const log = platformLog();
      const cp = await withSigner((s) => withMaintenance(platform.db, opts, (tx) => checkpointHead(tx, log, s)));
      await witness(log.name, cp);
      return cp;
    },

    readPlatform(fn) {
      return withMaintenance(platform.db, opts, fn);
    },

    async acceptCosignatures(input) {
      const log = logOf(input.log === 'platform' ? null : input.log);
      const named = new Set(input.lines.map((l) => /^\u2014 (\S+) /.exec(l)?.[1]).filter((n): n is string => n !== undefined));
      const witnesses = parseWitnesses(platform.config.witnesses).filter((w) => named.has(w.verifier.name));
      if (witnesses.length === 0) throw new CosignatureRefusedError('ERR_AUDIT_INVALID', 'no signature line of a configured witness (OCSUITE_WITNESSES)');
      const stored: Cosignature[] = [];
      for (const w of witnesses) {
        const r = await withMaintenance(platform.db, opts, async (tx) => {
          if ((await checkpointNoteAt(tx, log, input.size)) === undefined) return { missing: true as const };
          return acceptCosignatures(tx, { log, size: input.size, lines: input.lines, verifier: w.verifier, via: 'operator', actor: input.actor });
        });
        if ('missing' in r) throw new CosignatureRefusedError('ERR_AUDIT_INVALID', `log ${log.name} has no checkpoint at size ${input.size}`);
        if (r.refused !== undefined) throw new CosignatureRefusedError('ERR_AUDIT_LOG_CORRUPT', r.refused);
        stored.push(...r.accepted);
      }
      return stored;
    },

    async headSize(tx, log) {
      return (await readHead(tx, log)).size;
    },

    async inclusion(tx, log, index, size) {
      if (size < 1) throw new ProofRangeError('size must be at least 1');
      if (index >= size) throw new ProofRangeError(`index must be below size ${size}`);
      // One statement reads the head's size, the leaf and the nodes the cache does not hold.
      const reader = proofNodeReader(tx, log, log.name, upperNodes);
      const inRange = () => {
        const headSize = reader.headSize() ?? 0;
        if (size > headSize) throw new ProofRangeError(`size must be between 1 and ${headSize}`);
      };
      let leafHash: Buffer | undefined;
      const withLeaf: NodeReader = {
        async getNodes(keys) {
          const [leaf, ...rest] = await reader.getNodes([{ level: 0, index }, ...keys]).catch((err: unknown) => {
            inRange(); // a size beyond the head misses nodes: report the range, not the missing node
            throw err;
          });
          inRange();
          leafHash = leaf;
          return rest;
        },
      };
      const proof = await inclusionProof(withLeaf, index, size);
      if (!leafHash) await withLeaf.getNodes([]);
      return { index, size, leafHash: leafHash!, proof };
    },

    async consistency(tx, log, from, to) {
      const head = await readHead(tx, log);
      if (to > head.size) throw new ProofRangeError(`to must be at most ${head.size}`);
      if (from < 1 || from > to) throw new ProofRangeError('from must be between 1 and to');
      return consistencyProof(dbNodeReader(tx, log), from, to);
    },
  };
}

export { platformLog, tenantLog };

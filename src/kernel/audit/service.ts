/**
 * The audit kernel bound to one running platform: the log signing key (loaded
 * once), checkpoints with witness push, proofs. Kept per Platform in a
 * WeakMap so modules and jobs share one instance without widening Platform.
 */
import { sql } from 'drizzle-orm';
import type { Database, Session } from '../../db/client.ts';
import { withMaintenance } from '../../db/transaction.ts';
import type { Platform } from '../platform.ts';
import { dbNodeReader, readHead } from '../translog/db-log.ts';
import { consistencyProof, inclusionProof, type NodeReader } from '../translog/index.ts';
import { checkpointHead, type StoredCheckpoint } from './checkpoints.ts';
import type { AuditEventInput } from './events.ts';
import { loadLogSigner, LogKeyRetiredError, rotateLogKey, type LogSigner, type RotationResult } from './log-key.ts';
import { logOf, platformLog, tenantLog, type AuditLog } from './logs.ts';
import { pushCheckpoint } from './witness.ts';

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
  headSize(tx: Session, log: AuditLog): Promise<number>;
  inclusion(tx: Session, log: AuditLog, index: number, size: number): Promise<InclusionAnswer>;
  consistency(tx: Session, log: AuditLog, from: number, to: number): Promise<Buffer[]>;
}

/** What the kernel needs of a platform (a CLI builds just this, without booting jobs or mail). */
export type AuditPlatform = Pick<Platform, 'config' | 'db' | 'keyring' | 'log' | 'withTenant' | 'withIdentity' | 'egress'>;

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

  function witness(cp: StoredCheckpoint): void {
    const { witnessUrl, witnessSecret } = platform.config;
    if (!cp.created || !witnessUrl || !witnessSecret) return;
    pushCheckpoint(platform.egress, { url: witnessUrl, secret: witnessSecret }, cp).then(
      (status) => {
        if (status >= 300) platform.log.warn({ origin: cp.origin, size: cp.size, status }, 'witness refused a checkpoint');
      },
      (err: unknown) => platform.log.warn({ origin: cp.origin, size: cp.size, err: (err as Error).message }, 'witness push failed'),
    );
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
      const cp = await withSigner((s) => platform.withTenant({ tenantId }, (tx) => checkpointHead(tx, tenantLog(tenantId), s)));
      witness(cp);
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
          witness(cp);
        } catch (err) {
          platform.log.error({ log: log.name, err: (err as Error).message }, 'audit log not checkpointed');
          failed.push({ log: log.name, error: (err as Error).message });
        }
      }
      return { published, failed };
    },

    async headSize(tx, log) {
      return (await readHead(tx, log)).size;
    },

    async inclusion(tx, log, index, size) {
      const head = await readHead(tx, log);
      if (size < 1 || size > head.size) throw new ProofRangeError(`size must be between 1 and ${head.size}`);
      if (index >= size) throw new ProofRangeError(`index must be below size ${size}`);
      const reader = dbNodeReader(tx, log);
      // The leaf travels with the proof's nodes: one query for both.
      let leafHash: Buffer | undefined;
      const withLeaf: NodeReader = {
        async getNodes(keys) {
          const [leaf, ...rest] = await reader.getNodes([{ level: 0, index }, ...keys]);
          leafHash = leaf;
          return rest;
        },
      };
      const proof = await inclusionProof(withLeaf, index, size);
      leafHash ??= (await reader.getNodes([{ level: 0, index }]))[0];
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

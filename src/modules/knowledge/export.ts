import { sql } from 'drizzle-orm';
import { notFound, ProblemError } from '../../http/problem.ts';
import { checkpointHead } from '../../kernel/audit/checkpoints.ts';
import { auditActorOf, recordAuditEvent, recordAuditEvents } from '../../kernel/audit/events.ts';
import { findEvent } from '../../kernel/audit/read.ts';
import { auditKernel, tenantLog } from '../../kernel/audit/service.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import type { JobInfo, QueueDefinition, TenantHandler } from '../../kernel/jobs/port.ts';
import type { Platform } from '../../kernel/platform.ts';
import { signCheckpoint } from '../../kernel/translog/index.ts';
import { toApiEvent } from '../audit/format.ts';
import {
  entryHash, EXPORT_FORMAT, MANIFEST_FORMAT, manifestHash, signatureOrigin,
  type ExportDocument, type ExportedEntry, type ExportManifest,
} from './export-format.ts';

/** Not transactional: the handler opens its own tenant transaction after loading the log key (its own transaction). */
export const EXPORT_QUEUE: QueueDefinition = {
  name: 'knowledge.export',
  scope: 'tenant',
  retryLimit: 2,
  retryDelaySeconds: 5,
  expireInSeconds: 300,
  maxDepth: 1_000,
  concurrency: 1,
  tenantConcurrency: 1,
  transactional: false,
};

export interface ExportJob { exportId: string }

export function parseExportJob(data: unknown): ExportJob {
  const d = data as Partial<ExportJob> | null;
  if (!d || typeof d.exportId !== 'string' || !/^[0-9a-f-]{36}$/i.test(d.exportId)) throw new Error('knowledge.export: malformed job');
  return { exportId: d.exportId };
}

interface ExportRow { id: string; status: string; entries: number | null; requested_by: string | null; created_at: Date; finished_at: Date | null; error: string | null }

const exportView = (r: ExportRow) => ({
  id: r.id,
  status: r.status as 'pending' | 'done' | 'failed',
  entries: r.entries,
  requestedBy: r.requested_by,
  createdAt: r.created_at.toISOString(),
  finishedAt: r.finished_at?.toISOString() ?? null,
  error: r.error,
});

/**
 * Produces one export inside one tenant transaction: reads the entries, records the
 * `knowledge.exported` audit event naming the manifest hash, signs a checkpoint of the tenant's
 * log that covers it, takes that leaf's inclusion proof and signs the manifest — all of it or none.
 * Idempotent: an export already done (a retried job) is left as it is.
 */
export function createExportHandler(platform: Platform): TenantHandler<ExportJob> {
  const kernel = auditKernel(platform);
  return async (job: JobInfo<ExportJob>) => {
    const tenantId = job.tenantId!;
    const signer = await kernel.signer();
    await platform.withTenant({ tenantId }, async (tx) => {
      const [row] = await tx.query<ExportRow>(sql`SELECT id, status, requested_by FROM knowledge_exports WHERE id = ${job.data.exportId} FOR UPDATE`);
      if (!row || row.status !== 'pending') return;
      const rows = await tx.query<{ id: string; title: string; body: string; tags: string[]; created_at: Date; updated_at: Date }>(sql`
        SELECT id, title, body, tags, created_at, updated_at FROM knowledge_entries ORDER BY created_at, id`);
      const entries: ExportedEntry[] = rows.map((r) => ({
        id: r.id, title: r.title, body: r.body, tags: r.tags, createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString(),
      }));
      const manifest: ExportManifest = {
        format: MANIFEST_FORMAT, tenantId, exportId: row.id, createdAt: new Date().toISOString(),
        entries: entries.map((e) => ({ id: e.id, sha256: entryHash(e) })),
      };
      const mHash = manifestHash(manifest);
      const log = tenantLog(tenantId);
      const [record] = await recordAuditEvents(tx, [{
        tenantId, actor: row.requested_by ? { type: 'user', id: row.requested_by } : { type: 'system', id: 'knowledge-export' },
        action: 'knowledge.exported', target: { type: 'knowledge_export', id: row.id }, outcome: 'success',
        metadata: { exportId: row.id, entries: entries.length, manifestSha256: mHash.toString('hex') },
      }]);
      const event = (await findEvent(tx, log, record!.id))!;
      const checkpoint = await checkpointHead(tx, log, signer);
      const inclusion = await kernel.inclusion(tx, log, event.leafIndex, checkpoint.size);
      const document: ExportDocument = {
        format: EXPORT_FORMAT,
        manifest,
        signature: signCheckpoint({ origin: signatureOrigin(signer.keyName, tenantId, row.id), size: entries.length, root: mHash }, signer),
        log: {
          event: { log: tenantId, ...toApiEvent(event) },
          checkpoint: checkpoint.note,
          inclusion: { index: inclusion.index, size: inclusion.size, proof: inclusion.proof.map((p) => p.toString('base64')) },
        },
        entries,
      };
      await tx.query(sql`
        UPDATE knowledge_exports SET status = 'done', entries = ${entries.length}, document = ${JSON.stringify(document)}, finished_at = now()
        WHERE id = ${row.id}`);
    });
  };
}

/** Export requests, status and download: admin-only, step-up and the `export` rate class are the routes'. */
export function createKnowledgeExports(platform: Platform) {
  return {
    async request(principal: Principal) {
      await platform.jobs.assertRoom(EXPORT_QUEUE.name);
      const row = await platform.withTenant(contextOf(principal), async (tx) => {
        const [r] = await tx.query<ExportRow>(sql`
          INSERT INTO knowledge_exports (tenant_id, requested_by) VALUES (${principal.tenantId}, ${principal.userId ?? null})
          RETURNING id, status, entries, requested_by, created_at, finished_at, error`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'knowledge.export.requested',
          target: { type: 'knowledge_export', id: r!.id }, outcome: 'success',
        });
        return r!;
      });
      await platform.jobs.send(EXPORT_QUEUE.name, { exportId: row.id }, { tenantId: principal.tenantId, idempotencyKey: row.id });
      return exportView(row);
    },

    async get(principal: Principal, id: string) {
      const [row] = await platform.queryAsTenant<ExportRow>(contextOf(principal), sql`
        SELECT id, status, entries, requested_by, created_at, finished_at, error FROM knowledge_exports WHERE id = ${id}`);
      if (!row) throw notFound('knowledge export');
      return exportView(row);
    },

    /** The signed document; each download is an audit event of its own. */
    async download(principal: Principal, id: string): Promise<string> {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [row] = await tx.query<{ status: string; document: string | null }>(sql`SELECT status, document FROM knowledge_exports WHERE id = ${id}`);
        if (!row) throw notFound('knowledge export');
        if (row.document === null) throw new ProblemError('conflict', 409, `The export is ${row.status}, not ready for download.`, { extensions: { status: row.status } });
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'knowledge.export.downloaded',
          target: { type: 'knowledge_export', id }, outcome: 'success',
        });
        return row.document;
      });
    },
  };
}

import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withIdentity, withOwner } from '../../src/db/transaction.ts';
import { recordAuditEvent, recordAuditEvents } from '../../src/kernel/audit/events.ts';
import { tenantLog } from '../../src/kernel/audit/logs.ts';
import { scanEvents } from '../../src/kernel/audit/read.ts';
import { verifyStoredLog } from '../../src/kernel/audit/verify-db.ts';
import { auditKernel } from '../../src/kernel/audit/service.ts';
import { checkpointPublishHandler } from '../../src/kernel/audit/jobs.ts';
import { dbNodeReader, readHead } from '../../src/kernel/translog/db-log.ts';
import { consistencyProof, inclusionProof, rootAt, rootFromLeaves, verifyConsistency, verifyInclusion } from '../../src/kernel/translog/index.ts';
import { startApp, type TestApp } from '../support/app.ts';

let t: TestApp;
const opts = { statementTimeoutMs: 10_000 };

async function newTenant(): Promise<string> {
  const [row] = await withIdentity(t.platform.db, opts, (tx) => tx.query<{ id: string }>(sql`INSERT INTO tenants (name) VALUES ('translog') RETURNING id`));
  return row!.id;
}
const ev = (tenantId: string, i: number) => ({ tenantId, actor: { type: 'system' as const }, action: 'test.leaf', outcome: 'success' as const, metadata: { i } });

beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

describe('the database-backed RFC 6962 log', () => {
  it('matches the reference MTH after every batch, and serves valid proofs for any (index, size)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }), fc.nat(), async (batches, seed) => {
        const tenantId = await newTenant();
        const log = tenantLog(tenantId);
        let n = 0;
        const sizes: number[] = [];
        for (const k of batches) {
          await t.platform.withTenant({ tenantId }, (tx) => recordAuditEvents(tx, Array.from({ length: k }, (_, i) => ev(tenantId, n + i))));
          n += k;
          sizes.push(n);
        }
        await t.platform.withTenant({ tenantId }, async (tx) => {
          const leaves = (await scanEvents(tx, log, {}, 1000)).map((e) => e.leafHash);
          expect(leaves).toHaveLength(n);
          const head = await readHead(tx, log);
          expect(head.size).toBe(n);
          expect(head.root.equals(rootFromLeaves(leaves))).toBe(true);
          const reader = dbNodeReader(tx, log);
          for (const size of sizes) {
            const root = rootFromLeaves(leaves.slice(0, size));
            expect((await rootAt(reader, size)).equals(root)).toBe(true);
            const index = (seed + size) % size;
            verifyInclusion(leaves[index]!, index, size, await inclusionProof(reader, index, size), root);
            verifyConsistency(size, n, await consistencyProof(reader, size, n), root, head.root);
          }
        });
      }),
      { numRuns: 8 },
    );
  });

  it('reads O(log n) nodes per proof: the number of stored rows read never exceeds the proof length plus one leaf', async () => {
    const tenantId = await newTenant();
    await t.platform.withTenant({ tenantId }, (tx) => recordAuditEvents(tx, Array.from({ length: 300 }, (_, i) => ev(tenantId, i))));
    await t.platform.withTenant({ tenantId }, async (tx) => {
      const inner = dbNodeReader(tx, tenantLog(tenantId));
      let reads = 0;
      const counting = { getNodes: async (keys: readonly { level: number; index: number }[]) => ((reads += keys.length), inner.getNodes(keys)) };
      const proof = await inclusionProof(counting, 137, 300);
      expect(reads).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(300)));
      expect(proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(300)));
    });
  });

  it('never forks under concurrent appends to one log: indexes are dense and the log re-verifies', async () => {
    const tenantId = await newTenant();
    await Promise.all(Array.from({ length: 24 }, (_, i) =>
      t.platform.withTenant({ tenantId }, (tx) => recordAuditEvent(tx, ev(tenantId, i)))));
    await auditKernel(t.platform).tenantCheckpoint(tenantId);
    const key = (await auditKernel(t.platform).signer()).verifierKey;
    const r = await verifyStoredLog(t.platform.db, 10_000, tenantId, key);
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ ok: true, size: 24, checkpointsVerified: 1 });
  });

  it('refuses to sign a head whose stored nodes were rewritten (no fork is ever signed)', async () => {
    const tenantId = await newTenant();
    await t.platform.withTenant({ tenantId }, (tx) => recordAuditEvents(tx, Array.from({ length: 5 }, (_, i) => ev(tenantId, i))));
    await auditKernel(t.platform).tenantCheckpoint(tenantId);
    await t.platform.withTenant({ tenantId }, (tx) => recordAuditEvents(tx, Array.from({ length: 4 }, (_, i) => ev(tenantId, 10 + i))));
    // The owner rewrites the head to a history that does not extend the signed one.
    const [{ root }] = (await withOwner(t.platform.db, (tx) => tx.query<{ root: string }>(sql`SELECT encode(root, 'hex') AS root FROM translog_heads WHERE tenant_id = ${tenantId}`))) as [{ root: string }];
    await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE translog_heads SET root = decode(repeat('ab', 32), 'hex') WHERE tenant_id = ${tenantId}`));
    await expect(auditKernel(t.platform).tenantCheckpoint(tenantId)).rejects.toMatchObject({ code: 'ERR_AUDIT_LOG_CORRUPT' });
    // The publication job skips it, still publishes the others, and fails loudly.
    const healthy = await newTenant();
    await t.platform.withTenant({ tenantId: healthy }, (tx) => recordAuditEvent(tx, ev(healthy, 0)));
    const r = await auditKernel(t.platform).publishCheckpoints();
    expect(r.failed.map((f) => f.log)).toContain(tenantId);
    expect(r.published).toBeGreaterThanOrEqual(1);
    const [cp] = await withOwner(t.platform.db, (tx) => tx.query(sql`SELECT size FROM translog_checkpoints WHERE tenant_id = ${healthy}`));
    expect(Number((cp as { size: unknown }).size)).toBe(1);
    const job = checkpointPublishHandler(t.platform.db);
    await expect(job({} as never)).rejects.toMatchObject({ code: 'ERR_AUDIT_LOG_CORRUPT' });
    // Put the head back (the run's database is shared): the log is then checkpointed again.
    await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE translog_heads SET root = decode(${root}, 'hex') WHERE tenant_id = ${tenantId}`));
    expect((await auditKernel(t.platform).publishCheckpoints()).failed).toEqual([]);
  });
});

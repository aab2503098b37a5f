import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { recordAuditEvents, type AuditEventInput } from '../../src/kernel/audit/events.ts';
import { tenantLog } from '../../src/kernel/audit/logs.ts';
import { auditKernel, ProofRangeError } from '../../src/kernel/audit/service.ts';
import { rootFromLeaves, verifyInclusion } from '../../src/kernel/translog/index.ts';
import { signup, startApp, type TestApp } from '../support/app.ts';

/**
 * The fast paths of issue #21 §3 keep the log exact: an append from the remembered head is a
 * compare-and-set in the database, so another process's append, a rolled-back one or concurrent
 * ones fall back to the locking path and never fork or corrupt the tree; proofs read with the
 * upper-node cache verify against the root recomputed from every leaf, cold and warm, and a size
 * beyond the head is still a range error.
 */
let t: TestApp;
let tenantId: string;

const event = (i: number): AuditEventInput => ({ tenantId, actor: { type: 'system' }, action: 'test.fast_path', outcome: 'success', metadata: { i } });
let n = 0;
const append = (count = 1) => t.platform.withTenant({ tenantId }, (tx) => recordAuditEvents(tx, Array.from({ length: count }, () => event(n++))));

/** Every leaf in order, the head, and the root recomputed from the leaves alone. */
async function stored() {
  return withOwner(t.platform.db, async (tx) => {
    const leaves = await tx.query<{ idx: string; hash: string }>(sql`
      SELECT leaf_index::text AS idx, encode(leaf_hash, 'hex') AS hash FROM audit_events WHERE tenant_id = ${tenantId} ORDER BY leaf_index`);
    const [head] = await tx.query<{ size: string; root: string }>(sql`
      SELECT size::text, encode(root, 'hex') AS root FROM translog_heads WHERE tenant_id = ${tenantId}`);
    const hashes = leaves.map((l) => Buffer.from(l.hash, 'hex'));
    return { indexes: leaves.map((l) => Number(l.idx)), hashes, size: Number(head!.size), root: head!.root, computed: rootFromLeaves(hashes).toString('hex') };
  });
}

async function expectExactTree() {
  const s = await stored();
  expect(s.indexes).toEqual(Array.from({ length: s.indexes.length }, (_, i) => i));
  expect(s.size).toBe(s.indexes.length);
  expect(s.root).toBe(s.computed);
  return s;
}

beforeAll(async () => {
  t = await startApp();
  tenantId = (await signup(t.app, 'Fast paths')).tenantId;
});
afterAll(() => t?.close());

describe('appends from the remembered head', () => {
  it('keep leaf indexes contiguous and the root exact over many single-event transactions', async () => {
    for (let i = 0; i < 30; i++) await append();
    await append(5);
    await expectExactTree();
  });

  it('fall back to the locking path when another process appended meanwhile', async () => {
    const before = (await stored()).size;
    await append();
    // A second copy of the module is another process: its own remembered heads.
    vi.resetModules();
    const other = (await import('../../src/kernel/audit/events.ts')) as typeof import('../../src/kernel/audit/events.ts');
    for (let i = 0; i < 3; i++) await t.platform.withTenant({ tenantId }, (tx) => other.recordAuditEvents(tx, [event(n++)]));
    await append(); // this copy's head is stale by three leaves
    await t.platform.withTenant({ tenantId }, (tx) => other.recordAuditEvents(tx, [event(n++)])); // and now the other's
    await append(2);
    const s = await expectExactTree();
    expect(s.size).toBe(before + 8);
  });

  it('fall back when the append that set the remembered head rolled back', async () => {
    const before = (await stored()).size;
    await expect(t.platform.withTenant({ tenantId }, async (tx) => {
      await recordAuditEvents(tx, [event(1e6)]);
      throw new Error('the caller fails after its audit event');
    })).rejects.toThrow('the caller fails');
    expect((await stored()).size).toBe(before);
    await append();
    const s = await expectExactTree();
    expect(s.size).toBe(before + 1);
  });

  it('stay exact under concurrent appends to one log', async () => {
    const before = (await stored()).size;
    await Promise.all(Array.from({ length: 12 }, () => append()));
    const s = await expectExactTree();
    expect(s.size).toBe(before + 12);
  });
});

describe('inclusion proofs with cached upper nodes', () => {
  it('verify against the recomputed root, cold and warm, at several sizes, and refuse a size beyond the head', async () => {
    // Beyond 2^9 leaves, so proofs use nodes of the cached levels (CACHED_MIN_LEVEL = 8).
    while ((await stored()).size < 700) await append(100);
    const s = await expectExactTree();
    const kernel = auditKernel(t.platform);
    const log = tenantLog(tenantId);
    for (const size of [1, 2, 257, 512, 513, s.size]) {
      const root = rootFromLeaves(s.hashes.slice(0, size));
      for (const index of [0, size - 1, Math.floor(size / 3)]) {
        for (let pass = 0; pass < 2; pass++) {
          const answer = await t.platform.withTenant({ tenantId }, (tx) => kernel.inclusion(tx, log, index, size));
          expect(answer.leafHash.equals(s.hashes[index]!)).toBe(true);
          expect(() => verifyInclusion(answer.leafHash, index, size, answer.proof, root)).not.toThrow();
        }
      }
    }
    await expect(t.platform.withTenant({ tenantId }, (tx) => kernel.inclusion(tx, log, 0, s.size + 1))).rejects.toBeInstanceOf(ProofRangeError);
    await expect(t.platform.withTenant({ tenantId }, (tx) => kernel.inclusion(tx, log, s.size, s.size))).rejects.toBeInstanceOf(ProofRangeError);
    await expect(t.platform.withTenant({ tenantId }, (tx) => kernel.inclusion(tx, log, 0, 0))).rejects.toBeInstanceOf(ProofRangeError);
  });

  it('serve nothing of one tenant to another: a tenant without a log gets a range error, not cached nodes', async () => {
    const other = (await signup(t.app, 'No log')).tenantId;
    const kernel = auditKernel(t.platform);
    // Scoped to the other tenant, the same log reference reads no head under row-level security.
    await expect(t.platform.withTenant({ tenantId: other }, (tx) => kernel.inclusion(tx, tenantLog(tenantId), 3, 600))).rejects.toBeInstanceOf(ProofRangeError);
  });
});

import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { auditKernel } from '../../src/kernel/audit/service.ts';
import { bearer, json, signup, startApp, usingPostgres, type Account, type TestApp } from '../support/app.ts';

/**
 * Issue #20 §3: checkpoint signing never forks with two signers. Two platforms (on
 * PostgreSQL: two processes' worth of pools on one database; embedded: one database, so
 * two kernels on it) sign the same tenant log concurrently, round after round: every
 * signer returns the one checkpoint of each size, and one row per size is stored.
 */
let one: TestApp;
let two: TestApp;
let owner: Account;

beforeAll(async () => {
  one = await startApp();
  two = usingPostgres ? await startApp() : one;
  owner = await signup(one.app);
});
afterAll(async () => {
  if (two !== one) await two?.close();
  await one?.close();
});

describe('two checkpoint signers on one log', () => {
  it('sign the same checkpoint per size and store it once', async () => {
    const signers = [auditKernel(one.platform), auditKernel(two.platform), auditKernel(one.platform), auditKernel(two.platform)];
    let lastSize = 0;
    for (let round = 0; round < 5; round++) {
      // Move the head: an audited write (a deletion), on either node.
      const app = round % 2 ? two.app : one.app;
      const created = await app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(owner), payload: { title: `r${round}`, body: 'x' } });
      expect((await app.inject({ method: 'DELETE', url: `/api/v1/knowledge/${json(created).id}`, headers: bearer(owner) })).statusCode).toBe(204);
      const cps = await Promise.all(signers.map((s) => s.tenantCheckpoint(owner.tenantId)));
      expect(new Set(cps.map((c) => c.note)).size).toBe(1);
      expect(new Set(cps.map((c) => c.size)).size).toBe(1);
      expect(cps[0]!.size).toBeGreaterThan(lastSize);
      lastSize = cps[0]!.size;
    }
    const rows = await withOwner(one.platform.db, (tx) => tx.query<{ size: string; n: number }>(sql`
      SELECT size::text, count(*)::int AS n FROM translog_checkpoints WHERE tenant_id = ${owner.tenantId} GROUP BY size`));
    expect(rows.length).toBeGreaterThanOrEqual(5);
    expect(rows.every((r) => r.n === 1)).toBe(true);
  });
});

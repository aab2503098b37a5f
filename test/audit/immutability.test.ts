import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withIdentity, withMaintenance, withOwner, withTenant } from '../../src/db/transaction.ts';
import { recordAuditEvent, recordAuditEventNow } from '../../src/kernel/audit/events.ts';
import { insertAccessLines } from '../../src/kernel/audit/access-log.ts';
import { auditKernel } from '../../src/kernel/audit/service.ts';
import { bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

let t: TestApp;
let a: Account;
let b: Account;
const opts = { statementTimeoutMs: 5000 };
const asRuntime = <T>(tenantId: string, fn: Parameters<typeof withTenant<T>>[3]) => withTenant(t.platform.db, { tenantId }, opts, fn);

const AUDIT_TABLES = ['audit_events', 'translog_nodes', 'translog_checkpoints'];
const PLATFORM_TABLES = ['platform_audit_events', 'platform_translog_nodes', 'platform_translog_checkpoints'];

async function countEvents(tenantId: string, action?: string): Promise<number> {
  const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = ${tenantId} ${action ? sql`AND action = ${action}` : sql``}`));
  return row!.n;
}

beforeAll(async () => {
  t = await startApp();
  a = await signup(t.app, 'A');
  b = await signup(t.app, 'B');
  for (const tenantId of [a.tenantId, b.tenantId]) {
    await asRuntime(tenantId, (tx) => recordAuditEvent(tx, { tenantId, actor: { type: 'system' }, action: 'test.seeded', outcome: 'success' }));
  }
  for (let i = 0; i < 3; i++) await recordAuditEventNow(t.platform, { tenantId: null, actor: { type: 'operator' }, action: 'test.platform_seeded', outcome: 'success' });
  await auditKernel(t.platform).publishCheckpoints();
  // A checkpoint row to attack.
  expect((await t.app.inject({ method: 'GET', url: '/api/v1/translog/checkpoint', headers: bearer(a) })).statusCode).toBe(200);
  const old = new Date(Date.now() - 3 * 86_400_000);
  await insertAccessLines(t.platform.db, 5000, [
    { at: old, tenantId: a.tenantId, userId: null, method: 'GET', route: '/old', status: 200, durationMs: 1, ip: null, requestId: 'old-a' },
    { at: new Date(), tenantId: a.tenantId, userId: null, method: 'GET', route: '/new', status: 200, durationMs: 1, ip: null, requestId: 'new-a' },
    { at: old, tenantId: null, userId: null, method: 'GET', route: '/old', status: 200, durationMs: 1, ip: null, requestId: 'old-p' },
  ]);
});
afterAll(() => t?.close());

describe('append-only audit tables', () => {
  it('refuse UPDATE and DELETE by the runtime role on its own tenant rows', async () => {
    for (const table of [...AUDIT_TABLES, 'access_logs']) {
      await expect(asRuntime(a.tenantId, (tx) => tx.query(sql`UPDATE ${sql.identifier(table)} SET tenant_id = tenant_id`)), table)
        .rejects.toThrow(/permission denied/);
      await expect(asRuntime(a.tenantId, (tx) => tx.query(sql`DELETE FROM ${sql.identifier(table)}`)), table).rejects.toThrow(/permission denied/);
      await expect(asRuntime(a.tenantId, (tx) => tx.exec(`TRUNCATE ${table}`)), table).rejects.toThrow(/permission denied|refused/);
    }
    await expect(asRuntime(a.tenantId, (tx) => tx.query(sql`DELETE FROM translog_heads`))).rejects.toThrow(/permission denied/);
  });

  it('give the runtime role no access at all to the platform log', async () => {
    for (const table of [...PLATFORM_TABLES, 'platform_translog_heads', 'platform_access_logs', 'translog_keys']) {
      await expect(asRuntime(a.tenantId, (tx) => tx.query(sql`SELECT 1 FROM ${sql.identifier(table)} LIMIT 1`)), table).rejects.toThrow(/permission denied/);
    }
    await expect(asRuntime(a.tenantId, (tx) => recordAuditEvent(tx, { tenantId: null, actor: { type: 'system' }, action: 'test.sneaky', outcome: 'success' })))
      .rejects.toThrow(/permission denied/);
  });

  it('refuse UPDATE, DELETE and TRUNCATE by the owner role too (triggers), for events, nodes, checkpoints and heads', async () => {
    const column: Record<string, string> = { audit_events: 'outcome', translog_nodes: 'hash', translog_checkpoints: 'note' };
    for (const table of [...AUDIT_TABLES, ...PLATFORM_TABLES]) {
      const [{ n }] = (await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${sql.identifier(table)}`))) as [{ n: number }];
      expect(n, `${table} has rows to attack`).toBeGreaterThan(0);
      const col = column[table.replace(/^platform_/, '')]!;
      await expect(withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE ${sql.identifier(table)} SET ${sql.identifier(col)} = ${sql.identifier(col)}`)), table)
        .rejects.toThrow(/append-only/);
      await expect(withOwner(t.platform.db, (tx) => tx.query(sql`DELETE FROM ${sql.identifier(table)}`)), table).rejects.toThrow(/append-only/);
      // audit_events is also referenced by the ledger's transfers, which refuses a TRUNCATE before the trigger does.
      await expect(withOwner(t.platform.db, (tx) => tx.exec(`TRUNCATE ${table}`)), table).rejects.toThrow(/append-only|referenced in a foreign key constraint/);
    }
    await expect(withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE audit_events SET outcome = 'failure'`))).rejects.toThrow(/append-only/);
    await expect(withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE translog_nodes SET hash = hash`))).rejects.toThrow(/append-only/);
    await expect(withOwner(t.platform.db, (tx) => tx.query(sql`DELETE FROM translog_heads`))).rejects.toThrow(/append-only/);
    expect(await countEvents(a.tenantId, 'test.seeded')).toBe(1);
  });

  it('refuse UPDATE and DELETE by the identity and maintenance roles', async () => {
    await expect(withIdentity(t.platform.db, opts, (tx) => tx.query(sql`DELETE FROM audit_events`))).rejects.toThrow(/permission denied/);
    await expect(withIdentity(t.platform.db, opts, (tx) => tx.query(sql`UPDATE platform_audit_events SET outcome = 'failure'`))).rejects.toThrow(/permission denied|append-only/);
    await expect(withMaintenance(t.platform.db, opts, (tx) => tx.query(sql`DELETE FROM audit_events`))).rejects.toThrow(/permission denied/);
    await expect(withMaintenance(t.platform.db, opts, (tx) => tx.query(sql`DELETE FROM platform_audit_events`))).rejects.toThrow(/permission denied|append-only/);
  });

  it('cannot write into another tenant\'s log', async () => {
    await expect(asRuntime(a.tenantId, (tx) => recordAuditEvent(tx, { tenantId: b.tenantId, actor: { type: 'system' }, action: 'test.cross', outcome: 'success' })))
      .rejects.toThrow(/row-level security/);
    expect(await countEvents(b.tenantId, 'test.cross')).toBe(0);
  });
});

describe('access-log retention', () => {
  it('lets only the maintenance role delete, and only lines older than a day', async () => {
    await expect(withOwner(t.platform.db, (tx) => tx.query(sql`DELETE FROM access_logs`))).rejects.toThrow(/append-only/);
    await expect(withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE access_logs SET status = 500`))).rejects.toThrow(/append-only/);
    await expect(withMaintenance(t.platform.db, opts, (tx) => tx.query(sql`DELETE FROM access_logs WHERE request_id = 'new-a'`))).rejects.toThrow(/append-only/);
    await expect(withMaintenance(t.platform.db, opts, (tx) => tx.query(sql`UPDATE access_logs SET status = 500`))).rejects.toThrow(/permission denied/);
    const deleted = await withMaintenance(t.platform.db, opts, (tx) => tx.query(sql`DELETE FROM access_logs WHERE request_id = 'old-a' RETURNING request_id`));
    expect(deleted).toHaveLength(1);
  });

  it('shows a tenant only its own access lines, and never lets the runtime role insert them', async () => {
    const rows = await asRuntime(b.tenantId, (tx) => tx.query(sql`SELECT * FROM access_logs WHERE request_id = 'new-a'`));
    expect(rows).toEqual([]);
    await expect(asRuntime(a.tenantId, (tx) => tx.query(sql`INSERT INTO access_logs (tenant_id, at, method, route, status, duration_ms, request_id)
      VALUES (${a.tenantId}, now(), 'GET', '/x', 200, 1, 'forged')`))).rejects.toThrow(/permission denied/);
  });
});

describe('events and the transaction of the change', () => {
  it('an action rolled back leaves no event and no leaf', async () => {
    const before = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/checkpoint', headers: bearer(a) }));
    await expect(asRuntime(a.tenantId, async (tx) => {
      await tx.query(sql`INSERT INTO knowledge_entries (tenant_id, title, body) VALUES (${a.tenantId}, 'doomed', 'x')`);
      await recordAuditEvent(tx, { tenantId: a.tenantId, actor: { type: 'system' }, action: 'test.doomed', outcome: 'success' });
      throw new Error('the action fails after its event was recorded');
    })).rejects.toThrow('the action fails');
    expect(await countEvents(a.tenantId, 'test.doomed')).toBe(0);
    const after = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/checkpoint', headers: bearer(a) }));
    expect(after.size).toBe(before.size);
    expect(after.rootHash).toBe(before.rootHash);
    // The log keeps growing from the same size: no hole where the rolled-back leaf was.
    await asRuntime(a.tenantId, (tx) => recordAuditEvent(tx, { tenantId: a.tenantId, actor: { type: 'system' }, action: 'test.after', outcome: 'success' }));
    const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ leaf_index: unknown }>(sql`
      SELECT leaf_index FROM audit_events WHERE tenant_id = ${a.tenantId} AND action = 'test.after'`));
    expect(Number(row!.leaf_index)).toBe(before.size);
  });

  it('a failed knowledge deletion (unknown id) records nothing; a real one records knowledge.deleted', async () => {
    const before = await countEvents(a.tenantId, 'knowledge.deleted');
    expect((await t.app.inject({ method: 'DELETE', url: '/api/v1/knowledge/00000000-0000-4000-8000-000000000000', headers: bearer(a) })).statusCode).toBe(404);
    expect(await countEvents(a.tenantId, 'knowledge.deleted')).toBe(before);
    const entry = json(await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(a), payload: { title: 't', body: 'b' } }));
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/knowledge/${entry.id}`, headers: bearer(a) })).statusCode).toBe(204);
    expect(await countEvents(a.tenantId, 'knowledge.deleted')).toBe(before + 1);
  });
});

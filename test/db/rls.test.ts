import { randomUUID } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import type { Session } from '../../src/db/client.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner, withTenant, TenantContextError } from '../../src/db/transaction.ts';
import { bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { rolledBack } from '../support/rolled-back.ts';

/**
 * RLS is the second wall: these queries skip the application's services and
 * run straight under withTenant as tenant A, with no tenant filter of their
 * own. Tenant B's rows must stay invisible and untouchable anyway.
 */
let t: TestApp;
let a: Account;
let b: Account;
let bEntry: string;
const opts = { statementTimeoutMs: 5000 };
const asA = <T>(fn: Parameters<typeof withTenant<T>>[3]) => withTenant(t.platform.db, { tenantId: a.tenantId, userId: a.userId }, opts, fn);

beforeAll(async () => {
  t = await startApp();
  a = await signup(t.app, 'A');
  b = await signup(t.app, 'B');
  bEntry = json(await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(b), payload: { title: 'b', body: 'secret of b' } })).id;
  await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(a), payload: { title: 'a', body: 'a' } });
});
afterAll(() => t?.close());

describe('RLS with the application filters bypassed', () => {
  it("hides B's rows from unfiltered SELECTs on every tenant table", async () => {
    const tables = ['knowledge_entries', 'memberships', 'sessions', 'invitations'];
    for (const table of tables) {
      const rows = await asA((tx) => tx.query<{ tenant_id: string }>(sql`SELECT tenant_id FROM ${sql.identifier(table)}`));
      expect(rows.every((r) => r.tenant_id === a.tenantId), table).toBe(true);
    }
    const entries = await asA((tx) => tx.query(sql`SELECT * FROM knowledge_entries WHERE id = ${bEntry}`));
    expect(entries).toEqual([]);
    const tenants = await asA((tx) => tx.query<{ id: string }>(sql`SELECT id FROM tenants`));
    expect(tenants.map((x) => x.id)).toEqual([a.tenantId]);
    const users = await asA((tx) => tx.query<{ id: string }>(sql`SELECT id FROM users`));
    expect(users.map((x) => x.id)).toEqual([a.userId]);
  });

  it("refuses to INSERT a row into B's tenant", async () => {
    await expect(asA((tx) => tx.query(sql`INSERT INTO knowledge_entries (tenant_id, title, body) VALUES (${b.tenantId}, 'x', 'y')`)))
      .rejects.toThrow(/row-level security/);
  });

  it("cannot UPDATE or DELETE B's rows, nor move A's rows into B", async () => {
    const updated = await asA((tx) => tx.query(sql`UPDATE knowledge_entries SET title = 'pwned' WHERE id = ${bEntry} RETURNING id`));
    expect(updated).toEqual([]);
    const deleted = await asA((tx) => tx.query(sql`DELETE FROM knowledge_entries WHERE id = ${bEntry} RETURNING id`));
    expect(deleted).toEqual([]);
    await expect(asA((tx) => tx.query(sql`UPDATE memberships SET tenant_id = ${b.tenantId}`))).rejects.toThrow();
    const [still] = await withOwner(t.platform.db, (tx) => tx.query<{ title: string }>(sql`SELECT title FROM knowledge_entries WHERE id = ${bEntry}`));
    expect(still?.title).toBe('b');
  });

  it('sees no rows at all when no tenant is set', async () => {
    const rows = await withOwner(t.platform.db, async (tx) => {
      await tx.exec(`SET LOCAL ROLE ocsuite_runtime`);
      return tx.query(sql`SELECT id FROM knowledge_entries`);
    });
    expect(rows).toEqual([]);
  });

  it('cannot switch RLS off, drop the policy or grant itself more', async () => {
    for (const attack of [
      'ALTER TABLE knowledge_entries DISABLE ROW LEVEL SECURITY',
      'ALTER TABLE knowledge_entries NO FORCE ROW LEVEL SECURITY',
      'DROP POLICY knowledge_entries_tenant ON knowledge_entries',
      // A non-owner's GRANT is only a warning in PostgreSQL; prove it granted nothing.
      'GRANT ALL ON knowledge_entries TO ocsuite_runtime; TRUNCATE knowledge_entries',
      'TRUNCATE knowledge_entries',
    ]) {
      await expect(asA((tx) => tx.exec(attack)), attack).rejects.toThrow(/permission denied|must be owner|must be member|not allowed/i);
    }
    const [count] = await withOwner(t.platform.db, (tx) =>
      tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM knowledge_entries WHERE tenant_id IN (${a.tenantId}, ${b.tenantId})`));
    expect(count?.n).toBe(2);
  });

  it('isolates a table made with ocsuite_enable_tenant_rls like the hand-written policies (migration 0014)', async () => {
    const as = (tenantId: string, userId = '') => sql`SELECT set_config('app.tenant_id', ${tenantId}, true), set_config('app.user_id', ${userId}, true)`;
    const refused = async (tx: Session, statement: SQL) => {
      await tx.exec('SAVEPOINT attempt');
      const error = await tx.query(statement).then(() => null, (err: Error) => err);
      await tx.exec('ROLLBACK TO SAVEPOINT attempt');
      return error?.message;
    };
    const seen = await rolledBack(t.platform.db, async (tx) => {
      await tx.exec(`CREATE TABLE rls_helper (tenant_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id));
        SELECT ocsuite_enable_tenant_rls('rls_helper'); GRANT SELECT, INSERT, UPDATE ON rls_helper TO ocsuite_runtime;
        SET LOCAL ROLE ocsuite_runtime`);
      await tx.query(as(b.tenantId));
      await tx.query(sql`INSERT INTO rls_helper VALUES (${b.tenantId}, 2)`);
      await tx.query(as(a.tenantId, a.userId));
      await tx.query(sql`INSERT INTO rls_helper VALUES (${a.tenantId}, 1)`);
      const rows = await tx.query(sql`SELECT id FROM rls_helper`);
      const insertIntoB = await refused(tx, sql`INSERT INTO rls_helper VALUES (${b.tenantId}, 3)`);
      const moveIntoB = await refused(tx, sql`UPDATE rls_helper SET tenant_id = ${b.tenantId}`);
      const [context] = await tx.query(sql`SELECT ocsuite_current_tenant() AS tenant, ocsuite_current_user() AS user`);
      await tx.query(as(''));
      const unset = await tx.query(sql`SELECT id FROM rls_helper`);
      return { rows, insertIntoB, moveIntoB, context, unset };
    });
    expect(seen).toEqual({
      rows: [{ id: 1 }],
      insertIntoB: expect.stringMatching(/row-level security/),
      moveIntoB: expect.stringMatching(/row-level security/),
      context: { tenant: a.tenantId, user: a.userId },
      unset: [],
    });
  });

  it('refuses tenant ids that are not UUIDs before any SQL is built', async () => {
    for (const tenantId of ["' OR true --", `${a.tenantId}'; SET ROLE postgres; --`, '', 'not-a-uuid']) {
      expect(() => withTenant(t.platform.db, { tenantId }, opts, async () => 1)).toThrow(TenantContextError);
    }
    expect(() => withTenant(t.platform.db, { tenantId: randomUUID(), userId: "x' OR '1'='1" }, opts, async () => 1)).toThrow(TenantContextError);
  });

  it('rolls back everything when the transaction fails midway', async () => {
    await expect(asA(async (tx) => {
      await tx.query(sql`INSERT INTO knowledge_entries (tenant_id, title, body) VALUES (${a.tenantId}, 'rolled back', 'x')`);
      throw new Error('crash mid-operation');
    })).rejects.toThrow('crash mid-operation');
    const rows = await asA((tx) => tx.query(sql`SELECT id FROM knowledge_entries WHERE title = 'rolled back'`));
    expect(rows).toEqual([]);
  });

  it('leaves no tenant context on the pooled connection after a transaction', async () => {
    await asA((tx) => tx.query(sql`SELECT 1`));
    const [row] = await withOwner(t.platform.db, (tx) =>
      tx.query<{ tenant: string | null; who: string }>(sql`SELECT nullif(current_setting('app.tenant_id', true), '') AS tenant, current_user AS who`));
    expect(row?.tenant).toBeNull();
    expect(row?.who).not.toBe('ocsuite_runtime');
  });
});

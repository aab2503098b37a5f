import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lintSchema } from '../../src/db/lint.ts';
import { withOwner } from '../../src/db/transaction.ts';
import type { Session } from '../../src/db/client.ts';
import { startApp, type TestApp } from '../support/app.ts';

/** The schema lint of DESIGN.md §4, on whichever profile the suite runs (PGlite or PostgreSQL). */
let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

class Rollback extends Error {}

/** Applies `ddl`, lints, and rolls everything back. */
async function lintWith(ddl: string) {
  let findings: Awaited<ReturnType<typeof lintSchema>> = [];
  await withOwner(t.platform.db, async (tx: Session) => {
    await tx.exec(ddl);
    findings = await lintSchema(tx);
    throw new Rollback();
  }).catch((err) => {
    if (!(err instanceof Rollback)) throw err;
  });
  return findings.map((f) => `${f.rule} ${f.object}`);
}

const tenantTable = (name: string, extra = '') => `
  CREATE TABLE ${name} (tenant_id uuid NOT NULL REFERENCES tenants, id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
  ALTER TABLE ${name} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${name} FORCE ROW LEVEL SECURITY;
  GRANT SELECT, INSERT ON ${name} TO ocsuite_runtime; ${extra}`;
const goodPolicy = (name: string) => `CREATE POLICY p ON ${name} TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));`;

describe('schema lint', () => {
  it('passes on the migrated schema', async () => {
    const findings = await withOwner(t.platform.db, (tx) => lintSchema(tx));
    expect(findings).toEqual([]);
  });

  it('accepts a correctly protected tenant table (the attacks below differ from it in one way)', async () => {
    expect(await lintWith(tenantTable('lint_ok', goodPolicy('lint_ok')))).toEqual([]);
  });

  it('fails a tenant table without forced RLS', async () => {
    expect(await lintWith(`${tenantTable('lint_t', goodPolicy('lint_t'))} ALTER TABLE lint_t NO FORCE ROW LEVEL SECURITY;`)).toContain('rls-forced lint_t');
    expect(await lintWith(`${tenantTable('lint_t', goodPolicy('lint_t'))} ALTER TABLE lint_t DISABLE ROW LEVEL SECURITY;`)).toContain('rls-forced lint_t');
  });

  it('fails a tenant table the runtime role can use without a policy', async () => {
    expect(await lintWith(tenantTable('lint_t'))).toContain('tenant-policy lint_t');
  });

  it('fails a policy that is not scoped to the tenant (USING true, OR true, missing WITH CHECK)', async () => {
    expect(await lintWith(tenantTable('lint_t', 'CREATE POLICY p ON lint_t TO ocsuite_runtime USING (true) WITH CHECK (true);'))).toContain('tenant-policy lint_t.p');
    const orTrue = `CREATE POLICY p ON lint_t TO ocsuite_runtime
      USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid) OR true)
      WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));`;
    expect(await lintWith(tenantTable('lint_t', orTrue))).toContain('tenant-policy lint_t.p');
    const noCheck = `CREATE POLICY p ON lint_t TO ocsuite_runtime USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
      CREATE POLICY q ON lint_t FOR INSERT TO ocsuite_runtime WITH CHECK (true);`;
    expect(await lintWith(tenantTable('lint_t', noCheck))).toContain('tenant-policy lint_t.q');
  });

  it('accepts a policy that narrows the tenant scope with AND, and fails one that widens it again with OR', async () => {
    const scope = `tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid)`;
    const narrowed = `CREATE POLICY p ON lint_t TO ocsuite_runtime USING (${scope})
      WITH CHECK (${scope} AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = tenant_id AND t.deleted_at IS NULL));`;
    expect(await lintWith(tenantTable('lint_t', narrowed))).toEqual([]);
    const widened = `CREATE POLICY p ON lint_t TO ocsuite_runtime USING (${scope})
      WITH CHECK (${scope} AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = tenant_id) OR true);`;
    expect(await lintWith(tenantTable('lint_t', widened))).toContain('tenant-policy lint_t.p');
    const widenedUsing = `CREATE POLICY p ON lint_t TO ocsuite_runtime USING ((${scope} AND id IS NOT NULL) OR true) WITH CHECK (${scope});`;
    expect(await lintWith(tenantTable('lint_t', widenedUsing))).toContain('tenant-policy lint_t.p');
  });

  it('fails a tenant table without an index leading with tenant_id', async () => {
    const ddl = `CREATE TABLE lint_t (id uuid PRIMARY KEY, tenant_id uuid NOT NULL);
      ALTER TABLE lint_t ENABLE ROW LEVEL SECURITY; ALTER TABLE lint_t FORCE ROW LEVEL SECURITY; ${goodPolicy('lint_t')}`;
    expect(await lintWith(ddl)).toContain('tenant-index lint_t');
  });

  it('fails a runtime UPDATE or DELETE grant on an append-only table', async () => {
    const appendOnly = (grant: string) => `${tenantTable('lint_log', goodPolicy('lint_log'))} COMMENT ON TABLE lint_log IS '@append-only'; ${grant}`;
    expect(await lintWith(appendOnly(''))).toEqual([]);
    expect(await lintWith(appendOnly('GRANT UPDATE ON lint_log TO ocsuite_runtime;'))).toContain('append-only lint_log');
    expect(await lintWith(appendOnly('GRANT UPDATE (id) ON lint_log TO ocsuite_runtime;'))).toContain('append-only lint_log');
    expect(await lintWith(appendOnly('GRANT DELETE ON lint_log TO ocsuite_runtime;'))).toContain('append-only lint_log');
  });

  it('fails a SECURITY DEFINER function without a pinned search_path', async () => {
    const fn = (pin: string) => `CREATE FUNCTION lint_fn() RETURNS int LANGUAGE sql SECURITY DEFINER ${pin} AS 'SELECT 1';`;
    expect(await lintWith(fn(''))).toContain('definer-search-path lint_fn');
    expect(await lintWith(fn('SET search_path = pg_catalog'))).toEqual([]);
  });

  it('fails a table owned by a role requests switch into', async () => {
    expect(await lintWith(`${tenantTable('lint_t', goodPolicy('lint_t'))} ALTER TABLE lint_t OWNER TO ocsuite_runtime;`)).toContain('runtime-owns lint_t');
  });

  it('fails a non-tenant table without RLS', async () => {
    expect(await lintWith('CREATE TABLE lint_global (id int PRIMARY KEY);')).toContain('rls-forced lint_global');
  });
});

describe('database guard rails written in SQL', () => {
  it('keeps the last owner of a tenant even against a direct UPDATE', async () => {
    const [m] = await withOwner(t.platform.db, (tx) => tx.query<{ tenant_id: string; user_id: string }>(sql`SELECT tenant_id, user_id FROM memberships LIMIT 1`));
    if (!m) {
      const { signup } = await import('../support/app.ts');
      await signup(t.app);
    }
    const [owner] = await withOwner(t.platform.db, (tx) => tx.query<{ tenant_id: string; user_id: string }>(sql`SELECT tenant_id, user_id FROM memberships WHERE role = 'owner' LIMIT 1`));
    await expect(withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE memberships SET role = 'viewer' WHERE tenant_id = ${owner!.tenant_id} AND user_id = ${owner!.user_id}`)))
      .rejects.toThrow(/at least one owner/);
    await expect(withOwner(t.platform.db, (tx) => tx.query(sql`DELETE FROM memberships WHERE tenant_id = ${owner!.tenant_id} AND user_id = ${owner!.user_id}`)))
      .rejects.toThrow(/at least one owner/);
  });
});

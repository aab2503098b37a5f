import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lintSchema } from '../../src/db/lint.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { startApp, type TestApp } from '../support/app.ts';
import { rolledBack } from '../support/rolled-back.ts';

/** The schema lint of DESIGN.md §4, on whichever profile the suite runs (PGlite or PostgreSQL). */
let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

/** Applies `ddl`, lints, and rolls everything back. */
const lintWith = (ddl: string) =>
  rolledBack(t.platform.db, async (tx) => {
    await tx.exec(ddl);
    return (await lintSchema(tx)).map((f) => `${f.rule} ${f.object}`);
  });

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

describe('schema lint of tables made with ocsuite_enable_tenant_rls (migration 0014)', () => {
  const fnScope = 'tenant_id = (SELECT ocsuite_current_tenant())';
  const fnPolicy = (using: string, check: string) => `CREATE POLICY p ON lint_t TO ocsuite_runtime USING (${using}) WITH CHECK (${check});`;

  it('accepts a tenant table whose isolation the helper wrote: one policy for every command, USING and WITH CHECK', async () => {
    const ddl = `CREATE TABLE lint_ok (tenant_id uuid NOT NULL REFERENCES tenants, id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
      SELECT ocsuite_enable_tenant_rls('lint_ok'); GRANT SELECT, INSERT, UPDATE, DELETE ON lint_ok TO ocsuite_runtime;`;
    expect(await lintWith(ddl)).toEqual([]);
    const policies = await rolledBack(t.platform.db, async (tx) => {
      await tx.exec(ddl);
      return tx.query(sql`SELECT policyname, cmd, roles::text, qual, with_check FROM pg_policies WHERE tablename = 'lint_ok'`);
    });
    const scope = '(tenant_id = ( SELECT ocsuite_current_tenant() AS ocsuite_current_tenant))';
    expect(policies).toEqual([{ policyname: 'lint_ok_tenant', cmd: 'ALL', roles: '{ocsuite_runtime}', qual: scope, with_check: scope }]);
  });

  it('accepts the function narrowed with AND, and fails it widened with OR or missing WITH CHECK', async () => {
    expect(await lintWith(tenantTable('lint_t', fnPolicy(`${fnScope} AND id IS NOT NULL`, fnScope)))).toEqual([]);
    expect(await lintWith(tenantTable('lint_t', fnPolicy(`${fnScope} OR true`, fnScope)))).toContain('tenant-policy lint_t.p');
    expect(await lintWith(tenantTable('lint_t', fnPolicy(fnScope, `(${fnScope} AND id IS NOT NULL) OR true`)))).toContain('tenant-policy lint_t.p');
    expect(await lintWith(tenantTable('lint_t', `CREATE POLICY p ON lint_t TO ocsuite_runtime USING (${fnScope});`))).toContain('tenant-policy lint_t.p');
  });

  it('fails the function called per row instead of once per statement', async () => {
    expect(await lintWith(tenantTable('lint_t', fnPolicy('tenant_id = ocsuite_current_tenant()', fnScope)))).toContain('tenant-policy lint_t.p');
  });

  it('fails a function of the same name from another schema, even when search_path finds it first', async () => {
    const lookalike = `CREATE SCHEMA lint_other;
      CREATE FUNCTION lint_other.ocsuite_current_tenant() RETURNS uuid LANGUAGE sql STABLE RETURN (SELECT id FROM public.tenants LIMIT 1);`;
    expect(await lintWith(`${lookalike} ${tenantTable('lint_t', fnPolicy('tenant_id = (SELECT lint_other.ocsuite_current_tenant())', fnScope))}`))
      .toContain('tenant-policy lint_t.p');
    expect(await lintWith(`${lookalike} SET LOCAL search_path = lint_other, public; ${tenantTable('public.lint_t', fnPolicy(fnScope, fnScope))}`))
      .toContain('tenant-policy lint_t.p');
  });

  it("leaves the caller's search_path as it found it", async () => {
    const path = await withOwner(t.platform.db, async (tx) => {
      await tx.exec('SET LOCAL search_path = pg_temp, public');
      await lintSchema(tx);
      return (await tx.query<{ path: string }>(sql`SELECT current_setting('search_path') AS path`))[0]?.path;
    });
    expect(path).toBe('pg_temp, public');
  });

  it('fails the context functions policies trust once they are redefined', async () => {
    const fixed = `'${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}'`;
    for (const [ddl, fn] of [
      [`CREATE OR REPLACE FUNCTION ocsuite_current_tenant() RETURNS uuid LANGUAGE sql STABLE RETURN ${fixed}::uuid;`, 'ocsuite_current_tenant'],
      [`CREATE OR REPLACE FUNCTION ocsuite_current_user() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT ${fixed}::uuid $$;`, 'ocsuite_current_user'],
      [`ALTER FUNCTION ocsuite_current_tenant() SET app.tenant_id = ${fixed};`, 'ocsuite_current_tenant'],
      ['ALTER FUNCTION ocsuite_current_user() SECURITY DEFINER;', 'ocsuite_current_user'],
      ['ALTER FUNCTION ocsuite_current_tenant() OWNER TO ocsuite_runtime;', 'ocsuite_current_tenant'],
      // Migration 0060: a permission check that always says yes would open every record-level policy.
      ['CREATE OR REPLACE FUNCTION ocsuite_holds(permission text) RETURNS boolean LANGUAGE sql STABLE RETURN true;', 'ocsuite_holds'],
      [`ALTER FUNCTION ocsuite_holds(text) SET app.permissions = 'alliances:manage';`, 'ocsuite_holds'],
      ['ALTER FUNCTION ocsuite_holds(text) SECURITY DEFINER;', 'ocsuite_holds'],
    ] as const) {
      expect(await lintWith(ddl), ddl).toContain(`context-function ${fn}`);
    }
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

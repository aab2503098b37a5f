import { sql } from 'drizzle-orm';
import type { Session } from './client.ts';
import { DbRole } from './roles.ts';

/**
 * The tenant scope as PostgreSQL prints it while the lint reads the catalog with search_path
 * pinned to pg_catalog (so a function of the linted schema always prints schema-qualified): the
 * expression written out (migrations up to 0013), or the function of migration 0014.
 */
function tenantScopes(schemaIdent: string) {
  const inline = String.raw`\( SELECT \(NULLIF\(current_setting\('app\.tenant_id'::text, true\), ''::text\)\)::uuid AS "nullif"\)`;
  const helper = String.raw`\( SELECT ${escapeRegExp(schemaIdent)}\.ocsuite_current_tenant\(\) AS ocsuite_current_tenant\)`;
  const scope = `tenant_id = (?:${inline}|${helper})`;
  return { alone: new RegExp(`^\\(${scope}\\)$`), narrowed: new RegExp(`^\\(\\(${scope}\\) AND .+\\)$`, 's') };
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The request-context functions of migrations 0014 and 0060, bodies as PostgreSQL prints them. Policies
 * trust them, so they must be exactly these: no other body, no SET clause (a SET of app.tenant_id
 * would fix the tenant), not SECURITY DEFINER, not owned by a role requests switch into.
 */
const CONTEXT_FUNCTIONS: Record<string, string> = {
  ocsuite_current_tenant: String.raw`RETURN (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid`,
  ocsuite_current_user: String.raw`RETURN (NULLIF(current_setting('app.user_id'::text, true), ''::text))::uuid`,
  // Migration 0060: the permissions the request path set for record-level policies.
  ocsuite_holds: String.raw`RETURN COALESCE((permission = ANY (string_to_array(NULLIF(current_setting('app.permissions'::text, true), ''::text), ','::text))), false)`,
};

/**
 * The schema lint of DESIGN.md §4, read from the catalog so it judges what the
 * database will enforce, not what the migration files intended.
 * Tables marked append-only carry `@append-only` in their COMMENT.
 */
export interface LintFinding {
  rule: string;
  object: string;
  detail: string;
}

export async function lintSchema(tx: Session, schema = 'public'): Promise<LintFinding[]> {
  const findings: LintFinding[] = [];

  const tables = await tx.query<{ name: string; rls: boolean; forced: boolean; has_tenant: boolean; comment: string | null }>(sql`
    SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
           EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS has_tenant,
           obj_description(c.oid, 'pg_class') AS comment
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${schema} AND c.relkind IN ('r', 'p')`);

  const { ident, policies, contextFunctions } = await readPinned(tx, schema);
  const scopes = tenantScopes(ident);

  const switchedInto: string[] = Object.values(DbRole);
  for (const f of contextFunctions) {
    if (f.body !== CONTEXT_FUNCTIONS[f.name] || f.config !== null || f.definer || switchedInto.includes(f.owner)) {
      findings.push({ rule: 'context-function', object: f.name, detail: 'policies trust this function: it must be exactly the definition of its migration (0014, 0060)' });
    }
  }

  for (const t of tables) {
    if (!t.rls || !t.forced) {
      findings.push({ rule: 'rls-forced', object: t.name, detail: 'row level security must be enabled and forced' });
    }
    if (!t.has_tenant) continue;
    const runtime = policies.filter((p) => p.table === t.name && p.roles.split(',').some((r) => r === DbRole.runtime || r === 'public'));
    const grants = await tableGrants(tx, schema, t.name, DbRole.runtime);
    if (grants.length > 0 && runtime.length === 0) {
      findings.push({ rule: 'tenant-policy', object: t.name, detail: 'runtime role has grants but no tenant policy' });
    }
    for (const p of runtime) {
      // The tenant scope alone, or the scope AND further conditions (they only narrow it). The
      // deparser parenthesises every boolean operator, so a top-level OR cannot hide after the AND.
      const scoped = (expr: string | null) => expr !== null && (scopes.alone.test(expr) || scopes.narrowed.test(expr));
      if (!scoped(p.qual) && p.cmd !== 'INSERT') {
        findings.push({ rule: 'tenant-policy', object: `${t.name}.${p.name}`, detail: 'USING is not scoped to app.tenant_id' });
      }
      if ((p.cmd === 'ALL' || p.cmd === 'INSERT' || p.cmd === 'UPDATE') && !scoped(p.with_check)) {
        findings.push({ rule: 'tenant-policy', object: `${t.name}.${p.name}`, detail: 'WITH CHECK is not scoped to app.tenant_id' });
      }
    }
    const leading = await tx.query<{ ok: boolean }>(sql`
      SELECT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
        WHERE n.nspname = ${schema} AND c.relname = ${t.name} AND a.attname = 'tenant_id') AS ok`);
    if (!leading[0]?.ok) findings.push({ rule: 'tenant-index', object: t.name, detail: 'no index leads with tenant_id' });
    if (t.comment?.includes('@append-only')) {
      const bad = grants.filter((g) => g === 'UPDATE' || g === 'DELETE' || g === 'TRUNCATE');
      if (bad.length > 0) {
        findings.push({ rule: 'append-only', object: t.name, detail: `runtime role may ${bad.join(', ')} an append-only table` });
      }
    }
  }

  for (const t of tables.filter((x) => x.comment?.includes('@append-only') && !x.has_tenant)) {
    const bad = (await tableGrants(tx, schema, t.name, DbRole.runtime)).filter((g) => g === 'UPDATE' || g === 'DELETE' || g === 'TRUNCATE');
    if (bad.length > 0) findings.push({ rule: 'append-only', object: t.name, detail: `runtime role may ${bad.join(', ')} an append-only table` });
  }

  const owners = await tx.query<{ name: string }>(sql`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_roles r ON r.oid = c.relowner
    WHERE n.nspname = ${schema} AND r.rolname IN (${DbRole.runtime}, ${DbRole.identity}, ${DbRole.maintenance})`);
  for (const o of owners) findings.push({ rule: 'runtime-owns', object: o.name, detail: 'a switched-into role owns this object' });

  const roles = await tx.query<{ name: string }>(sql`
    SELECT rolname AS name FROM pg_roles
    WHERE rolname IN (${DbRole.runtime}, ${DbRole.identity}, ${DbRole.maintenance}) AND (rolsuper OR rolbypassrls OR rolcanlogin)`);
  for (const r of roles) findings.push({ rule: 'role-attributes', object: r.name, detail: 'must be NOLOGIN, NOSUPERUSER, NOBYPASSRLS' });

  const definers = await tx.query<{ name: string }>(sql`
    SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = ${schema} AND p.prosecdef
      AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c WHERE c LIKE 'search_path=%')`);
  for (const d of definers) findings.push({ rule: 'definer-search-path', object: d.name, detail: 'SECURITY DEFINER without a pinned search_path' });

  return findings;
}

/**
 * Policies and context functions as PostgreSQL prints them with search_path pinned to pg_catalog:
 * a name of `schema` then always prints qualified, so the text says which function a policy calls.
 * The caller's search_path is restored afterwards.
 */
async function readPinned(tx: Session, schema: string) {
  const [names] = await tx.query<{ path: string; ident: string }>(sql`SELECT current_setting('search_path') AS path, quote_ident(${schema}) AS ident`);
  await tx.query(sql`SELECT set_config('search_path', 'pg_catalog', true)`);
  const policies = await tx.query<{ table: string; name: string; qual: string | null; with_check: string | null; cmd: string; roles: string }>(sql`
    SELECT tablename AS "table", policyname AS name, qual, with_check, cmd, array_to_string(roles, ',') AS roles
    FROM pg_policies WHERE schemaname = ${schema}`);
  const contextFunctions = await tx.query<{ name: string; body: string | null; config: string[] | null; definer: boolean; owner: string }>(sql`
    SELECT p.proname AS name, pg_get_function_sqlbody(p.oid) AS body, p.proconfig AS config, p.prosecdef AS definer, pg_get_userbyid(p.proowner) AS owner
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = ${schema} AND p.proname IN (${sql.join(Object.keys(CONTEXT_FUNCTIONS).map((f) => sql`${f}`), sql`, `)})`);
  await tx.query(sql`SELECT set_config('search_path', ${names!.path}, true)`);
  return { ident: names!.ident, policies, contextFunctions };
}

async function tableGrants(tx: Session, schema: string, table: string, role: string): Promise<string[]> {
  const rows = await tx.query<{ privilege: string }>(sql`
    SELECT privilege_type AS privilege FROM information_schema.role_table_grants
    WHERE table_schema = ${schema} AND table_name = ${table} AND grantee = ${role}
    UNION
    SELECT DISTINCT privilege_type FROM information_schema.column_privileges
    WHERE table_schema = ${schema} AND table_name = ${table} AND grantee = ${role}`);
  return rows.map((r) => r.privilege);
}

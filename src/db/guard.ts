import { sql } from 'drizzle-orm';
import type { Session } from './client.ts';
import { DbRole } from './roles.ts';

/** What is wrong with the roles requests would run under; empty when safe (DESIGN.md §2). */
export async function roleProblems(tx: Session, production: boolean): Promise<string[]> {
  const problems: string[] = [];
  const [login] = await tx.query<{ name: string; superuser: boolean; bypassrls: boolean }>(sql`
    SELECT rolname AS name, rolsuper AS superuser, rolbypassrls AS bypassrls FROM pg_roles WHERE rolname = session_user`);
  if (production && login && (login.superuser || login.bypassrls)) {
    problems.push(`database login "${login.name}" is a superuser or has BYPASSRLS; connect as a login that is only granted the ocsuite_* roles`);
  }
  const roles = await tx.query<{ name: string; superuser: boolean; bypassrls: boolean; login: boolean; member: boolean }>(sql`
    SELECT rolname AS name, rolsuper AS superuser, rolbypassrls AS bypassrls, rolcanlogin AS login,
           pg_has_role(session_user, oid, 'USAGE') AS member
    FROM pg_roles WHERE rolname IN (${DbRole.runtime}, ${DbRole.identity}, ${DbRole.maintenance})`);
  for (const name of Object.values(DbRole)) {
    const r = roles.find((x) => x.name === name);
    if (!r) problems.push(`role ${name} is missing: run \`ocsuite migrate\``);
    else if (r.superuser || r.bypassrls || r.login) problems.push(`role ${name} must be NOLOGIN NOSUPERUSER NOBYPASSRLS`);
    else if (!r.member) problems.push(`login cannot switch into ${name}: GRANT ${name} TO ${login?.name ?? 'the application login'}`);
  }
  return problems;
}

import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import type { Platform, SubjectRef } from '../../kernel/platform.ts';

/**
 * Data-subject requests for identity (docs/privacy.md). The hooks run in the request's tenant
 * transaction and see only that tenant; the account itself (address, name, password, second
 * factors) is global and is pseudonymised by `pseudonymiseAccount` once the person belongs to no
 * tenant any more.
 */
export async function exportIdentitySubject(tx: Session, s: SubjectRef): Promise<Record<string, unknown>> {
  const [account] = await tx.query<{ email: string; display_name: string | null; created_at: Date; email_verified_at: Date | null }>(sql`
    SELECT u.email, u.display_name, u.created_at, u.email_verified_at FROM users u
    JOIN memberships m ON m.user_id = u.id AND m.tenant_id = ${s.tenantId} WHERE u.id = ${s.userId}`);
  const [membership] = await tx.query<{ role: string; created_at: Date }>(sql`
    SELECT role, created_at FROM memberships WHERE tenant_id = ${s.tenantId} AND user_id = ${s.userId}`);
  const roles = await tx.query<{ name: string }>(sql`
    SELECT r.name FROM member_roles mr JOIN tenant_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id
    WHERE mr.tenant_id = ${s.tenantId} AND mr.user_id = ${s.userId} ORDER BY r.name`);
  const sessions = await tx.query<{ id: string; created_at: Date; last_used_at: Date; revoked_at: Date | null; ip: string | null; user_agent: string | null }>(sql`
    SELECT id, created_at, last_used_at, revoked_at, ip, user_agent FROM sessions WHERE tenant_id = ${s.tenantId} AND user_id = ${s.userId} ORDER BY created_at`);
  const apiKeys = await tx.query<{ id: string; name: string; created_at: Date; revoked_at: Date | null }>(sql`
    SELECT id, name, created_at, revoked_at FROM api_keys WHERE tenant_id = ${s.tenantId} AND created_by = ${s.userId} ORDER BY created_at`);
  const invitations = await tx.query<{ id: string; email: string; role: string; created_at: Date; accepted_at: Date | null }>(sql`
    SELECT id, email, role, created_at, accepted_at FROM invitations
    WHERE tenant_id = ${s.tenantId} AND (accepted_by = ${s.userId} OR (${s.email}::text IS NOT NULL AND lower(email) = lower(${s.email}::text)))
    ORDER BY created_at`);
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  return {
    account: account ? { userId: s.userId, email: account.email, displayName: account.display_name, createdAt: iso(account.created_at), emailVerifiedAt: iso(account.email_verified_at) } : null,
    membership: membership ? { role: membership.role, since: iso(membership.created_at), customRoles: roles.map((r) => r.name) } : null,
    sessions: sessions.map((x) => ({ id: x.id, createdAt: iso(x.created_at), lastUsedAt: iso(x.last_used_at), revokedAt: iso(x.revoked_at), ip: x.ip, userAgent: x.user_agent })),
    apiKeysCreated: apiKeys.map((k) => ({ id: k.id, name: k.name, createdAt: iso(k.created_at), revokedAt: iso(k.revoked_at) })),
    invitationsReceived: invitations.map((i) => ({ id: i.id, email: i.email, role: i.role, createdAt: iso(i.created_at), acceptedAt: iso(i.accepted_at) })),
  };
}

export async function eraseIdentitySubject(tx: Session, s: SubjectRef): Promise<Record<string, number>> {
  const t = s.tenantId;
  const u = s.userId;
  const count = async (statement: ReturnType<typeof sql>) => (await tx.query(statement)).length;
  const invitations = await count(sql`
    DELETE FROM invitations WHERE tenant_id = ${t} AND (accepted_by = ${u} OR (${s.email}::text IS NOT NULL AND lower(email) = lower(${s.email}::text))) RETURNING id`);
  await tx.query(sql`UPDATE invitations SET invited_by = NULL WHERE tenant_id = ${t} AND invited_by = ${u}`);
  // The keys stay (machine credentials of the tenant, e.g. a marketplace install's); the name they were given goes.
  const apiKeys = await count(sql`UPDATE api_keys SET name = 'erased', created_by = NULL WHERE tenant_id = ${t} AND created_by = ${u} RETURNING id`);
  const sessions = await count(sql`
    UPDATE sessions SET revoked_at = coalesce(revoked_at, now()), revoked_reason = coalesce(revoked_reason, 'data subject erased'), ip = NULL, user_agent = NULL
    WHERE tenant_id = ${t} AND user_id = ${u} RETURNING id`);
  const memberships = await count(sql`DELETE FROM memberships WHERE tenant_id = ${t} AND user_id = ${u} RETURNING user_id`);
  return { invitations, api_keys: apiKeys, sessions, memberships };
}

/** Pseudonymises the account when the person is a member of no tenant any more (migration 0082); false otherwise. */
export async function pseudonymiseAccount(platform: Platform, userId: string): Promise<boolean> {
  const [row] = await platform.withIdentity((tx) => tx.query<{ done: boolean }>(sql`SELECT ocsuite_pseudonymise_user(${userId}) AS done`));
  return row?.done === true;
}

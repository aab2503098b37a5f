import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { notFound } from '../../http/problem.ts';
import { assertMayAssign } from '../../kernel/access/assignment.ts';
import { isBuiltInRole as isRole, type BuiltInRole as Role } from '../../kernel/access/catalog.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { newOpaqueToken } from '../../kernel/auth/opaque-token.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import type { Platform } from '../../kernel/platform.ts';
import { signalMemberSessionsEnded } from './member-signals.ts';

export interface ClientInfo {
  userAgent: string | undefined;
  ip: string;
}

export interface IssuedTokens {
  tokenType: 'Bearer';
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  tenant: { id: string; name: string };
  user: { id: string; email: string };
  roles: Role[];
}

/** Starts a session (one login) with its first refresh token; runs in the caller's identity transaction. */
export async function startSession(
  tx: Session,
  platform: Platform,
  who: { tenant: { id: string; name: string }; user: { id: string; email: string }; role: Role | null },
  client: ClientInfo,
  opts: { mfa?: boolean } = {},
): Promise<IssuedTokens> {
  const ttl = platform.config.refreshTokenTtlSeconds;
  const [session] = await tx.query<{ id: string }>(sql`
    INSERT INTO sessions (tenant_id, user_id, expires_at, user_agent, ip, mfa_at)
    VALUES (${who.tenant.id}, ${who.user.id}, now() + make_interval(secs => ${ttl}), ${client.userAgent?.slice(0, 512) ?? null}, ${client.ip},
            ${opts.mfa ? sql`now()` : sql`NULL`})
    RETURNING id`);
  const refresh = await addRefreshToken(tx, who.tenant.id, session!.id, ttl);
  return tokensFor(platform, who, session!.id, refresh);
}

export async function addRefreshToken(tx: Session, tenantId: string, sessionId: string, ttlSeconds: number): Promise<string> {
  const { token, hash } = newOpaqueToken('ocs_rt');
  await tx.query(sql`
    INSERT INTO refresh_tokens (tenant_id, session_id, token_hash, expires_at)
    VALUES (${tenantId}, ${sessionId}, ${hash}, now() + make_interval(secs => ${ttlSeconds}))`);
  return token;
}

export async function tokensFor(
  platform: Platform,
  who: { tenant: { id: string; name: string }; user: { id: string; email: string }; role: Role | null },
  sessionId: string,
  refreshToken: string,
): Promise<IssuedTokens> {
  // Informative only: permissions are resolved from the membership at every session check.
  const roles: Role[] = who.role ? [who.role] : [];
  const accessToken = await platform.tokens.issue({ sub: who.user.id, tid: who.tenant.id, roles, sid: sessionId });
  return {
    tokenType: 'Bearer',
    accessToken,
    expiresIn: platform.tokens.ttlSeconds,
    refreshToken,
    tenant: who.tenant,
    user: who.user,
    roles,
  };
}

/**
 * Revokes every live session of a user: in the current tenant as the runtime
 * role (RLS scopes it), in every tenant as the identity role.
 */
export async function revokeUserSessions(tx: Session, userId: string, reason: string): Promise<string[]> {
  const rows = await tx.query<{ id: string }>(sql`
    UPDATE sessions SET revoked_at = now(), revoked_reason = ${reason}
    WHERE user_id = ${userId} AND revoked_at IS NULL RETURNING id`);
  return rows.map((r) => r.id);
}

/**
 * Live sessions of some users in the transaction's tenant: after a change to what they may do
 * (custom roles), this node forgets their cached session state at once; other nodes re-check
 * within the session bound.
 */
export async function liveSessionIdsOf(tx: Session, userIds: readonly string[]): Promise<string[]> {
  if (userIds.length === 0) return [];
  const rows = await tx.query<{ id: string }>(sql`
    SELECT id FROM sessions WHERE user_id = ANY (${sql.param([...userIds])}::uuid[]) AND revoked_at IS NULL AND expires_at > now()`);
  return rows.map((r) => r.id);
}

const MFA_TICKET_TTL = 300;

export interface MfaChallenge {
  mfaRequired: true;
  mfaTicket: string;
  expiresIn: number;
}

/** The password step of an account with a second factor earns only this short, single-use ticket. */
/**
 * The ticket of the second login step, for a tenant the user belongs to, or
 * for the tenant a signup of an existing account asked for (created only when
 * the second factor is proved).
 */
export async function issueMfaTicket(tx: Session, userId: string, target: { tenantId: string } | { signupTenantName: string }): Promise<MfaChallenge> {
  const { token, hash } = newOpaqueToken('ocs_mt');
  const tenantId = 'tenantId' in target ? target.tenantId : null;
  const signupTenantName = 'signupTenantName' in target ? target.signupTenantName : null;
  await tx.query(sql`INSERT INTO mfa_tickets (token_hash, user_id, tenant_id, signup_tenant_name, expires_at)
    VALUES (${hash}, ${userId}, ${tenantId}, ${signupTenantName}, now() + make_interval(secs => ${MFA_TICKET_TTL}))`);
  return { mfaRequired: true, mfaTicket: token, expiresIn: MFA_TICKET_TTL };
}

/** Marks a session as holding a freshly proven second factor (MFA policy, step-up). */
export async function markSecondFactorProven(tx: Session, sessionId: string): Promise<void> {
  await tx.query(sql`UPDATE sessions SET mfa_at = now() WHERE id = ${sessionId}`);
}

/** Without a factor, no session of the user holds a proven one any more. */
export async function forgetSecondFactorProofs(tx: Session, userId: string): Promise<void> {
  await tx.query(sql`UPDATE sessions SET mfa_at = NULL WHERE user_id = ${userId}`);
}

export interface LiveSession {
  id: string;
  createdAt: Date;
  lastUsedAt: Date;
  userAgent: string | null;
  ip: string | null;
}

/** The signed-in user's live sessions in the principal's tenant, most recently used first. */
export async function listLiveSessions(platform: Platform, principal: Principal): Promise<LiveSession[]> {
  const rows = await platform.queryAsTenant<{ id: string; created_at: Date; last_used_at: Date; user_agent: string | null; ip: string | null }>(contextOf(principal), sql`
    SELECT id, created_at, last_used_at, user_agent, ip FROM sessions
    WHERE user_id = ${principal.userId} AND revoked_at IS NULL AND expires_at > now() ORDER BY last_used_at DESC LIMIT 200`);
  return rows.map((r) => ({ id: r.id, createdAt: r.created_at, lastUsedAt: r.last_used_at, userAgent: r.user_agent, ip: r.ip }));
}

/** Ends one live session of the signed-in user; false when there is none by that id. */
export async function revokeOwnSession(platform: Platform, principal: Principal, sessionId: string): Promise<boolean> {
  const rows = await platform.queryAsTenant(contextOf(principal), sql`
    UPDATE sessions SET revoked_at = now(), revoked_reason = 'user-revoked'
    WHERE id = ${sessionId} AND user_id = ${principal.userId} AND revoked_at IS NULL RETURNING id`);
  return rows.length > 0;
}

/** An administrator ends a member's sessions (never a higher role's); returns the ended session ids. */
export async function revokeMemberSessions(platform: Platform, principal: Principal, userId: string): Promise<string[]> {
  const ended = await platform.withTenant(contextOf(principal), async (tx) => {
    const [m] = await tx.query<{ role: string | null }>(sql`SELECT role FROM memberships WHERE user_id = ${userId}`);
    if (!m) throw notFound('member');
    if (userId !== principal.userId) assertMayAssign(principal.roles, isRole(m.role) ? m.role : null, null);
    const ids = await revokeUserSessions(tx, userId, 'admin-revoked');
    await recordAuditEvent(tx, {
      tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'session.revoked', target: { type: 'user', id: userId },
      outcome: 'success', reason: 'revoked by an administrator', metadata: { sessionsEnded: ids.length },
    });
    return ids;
  });
  await signalMemberSessionsEnded(platform, { tenantId: principal.tenantId, userId, reason: 'admin-revoked' });
  return ended;
}

import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import type { Role } from '../../kernel/access/permissions.ts';
import { newOpaqueToken } from '../../kernel/auth/opaque-token.ts';
import type { Platform } from '../../platform.ts';

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
  who: { tenant: { id: string; name: string }; user: { id: string; email: string }; role: Role },
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
  who: { tenant: { id: string; name: string }; user: { id: string; email: string }; role: Role },
  sessionId: string,
  refreshToken: string,
): Promise<IssuedTokens> {
  const roles: Role[] = [who.role];
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

/** Revokes every live session of a user in the current tenant (runtime role; RLS scopes it). */
export async function revokeUserSessions(tx: Session, userId: string, reason: string): Promise<string[]> {
  const rows = await tx.query<{ id: string }>(sql`
    UPDATE sessions SET revoked_at = now(), revoked_reason = ${reason}
    WHERE user_id = ${userId} AND revoked_at IS NULL RETURNING id`);
  return rows.map((r) => r.id);
}

const MFA_TICKET_TTL = 300;

export interface MfaChallenge {
  mfaRequired: true;
  mfaTicket: string;
  expiresIn: number;
}

/** The password step of an account with a second factor earns only this short, single-use ticket. */
export async function issueMfaTicket(tx: Session, userId: string, tenantId: string): Promise<MfaChallenge> {
  const { token, hash } = newOpaqueToken('ocs_mt');
  await tx.query(sql`INSERT INTO mfa_tickets (token_hash, user_id, tenant_id, expires_at)
    VALUES (${hash}, ${userId}, ${tenantId}, now() + make_interval(secs => ${MFA_TICKET_TTL}))`);
  return { mfaRequired: true, mfaTicket: token, expiresIn: MFA_TICKET_TTL };
}

import { sql } from 'drizzle-orm';
import { isBuiltInRole as isRole, type BuiltInRole as Role } from '../../kernel/access/catalog.ts';
import { hashOpaqueToken, newOpaqueToken } from '../../kernel/auth/opaque-token.ts';
import { acceptSecondFactor, mfaState } from '../../kernel/auth/mfa.ts';
import { throttleKey } from '../../kernel/limits/login-throttle.ts';
import { verifyPassword } from '../../kernel/auth/passwords.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { ProblemError, notFound } from '../../http/problem.ts';
import type { Platform } from '../../kernel/platform.ts';
import { addRefreshToken, issueMfaTicket, startSession, tokensFor, type ClientInfo, type IssuedTokens, type MfaChallenge } from './sessions.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { auditLoginFailure } from './audit-events.ts';
import { credentialThrottle } from './credential-throttle.ts';
import { openTenant } from './tenant-opening.ts';

/** A membership's built-in role; null when the member holds custom roles only. */
const builtInOf = (role: string | null): Role | null => (isRole(role) ? role : null);

const invalidCredentials = () => new ProblemError('invalid-credentials', 401, 'The email, password or tenant is not right.');
const ticketGone = () => new ProblemError('invalid-token', 401, 'The MFA ticket is invalid, expired or already used.');
const invalidRefresh = () => new ProblemError('invalid-token', 401, 'The refresh token is invalid, expired or already used.');

interface UserRow {
  id: string;
  email: string;
  password_hash: string | null;
}

/** `onSessionRevoked` lets the node that revoked a session drop it from its cache at once. */
export function createAuthService(platform: Platform, onSessionRevoked: (sessionId: string) => void = () => {}) {
  async function findUser(email: string): Promise<UserRow | undefined> {
    const [user] = await platform.withIdentity((tx) =>
      tx.query<UserRow>(sql`SELECT id, email, password_hash FROM users WHERE email_normalized = lower(${email})`),
    );
    return user;
  }

  const { claim, recordFailures, afterClaim, recordSuccesses } = credentialThrottle(platform);

  return {
    async login(input: { email: string; password: string; tenant?: string | undefined }, client: ClientInfo): Promise<IssuedTokens | MfaChallenge> {
      const keys = [throttleKey.account(input.email), throttleKey.ip(client.ip)];
      await claim(keys);
      const user = await findUser(input.email);
      const ok = await verifyPassword(user?.password_hash, input.password);
      if (!user || !ok) {
        await recordFailures(keys);
        void auditLoginFailure(platform, { email: input.email, tenant: input.tenant, userId: user?.id, reason: user ? 'wrong password' : 'unknown account' }, client);
        throw invalidCredentials();
      }
      const outcome = await afterClaim(keys, () => platform.withIdentity(async (tx) => {
        const memberships = await tx.query<{ tenant_id: string; name: string; role: string | null; status: string }>(sql`
          SELECT m.tenant_id, t.name, m.role, t.status FROM memberships m JOIN tenants t ON t.id = m.tenant_id
          WHERE m.user_id = ${user.id} ORDER BY m.created_at`);
        const chosen = input.tenant ? memberships.filter((m) => m.tenant_id === input.tenant?.toLowerCase()) : memberships;
        if (chosen.length === 0) return undefined;
        if (chosen.length > 1) {
          throw new ProblemError('tenant-required', 400, 'This account belongs to several tenants; pass `tenant`.', {
            extensions: { tenants: chosen.map((m) => ({ id: m.tenant_id, name: m.name })) },
          });
        }
        const m = chosen[0]!;
        if (m.status !== 'active') throw new ProblemError('forbidden', 403, 'This tenant is suspended.');
        await recordSuccesses(tx, keys);
        // With a confirmed second factor the password step only earns a short, single-use ticket.
        if ((await mfaState(tx, user.id)) === 'enabled') return issueMfaTicket(tx, user.id, { tenantId: m.tenant_id });
        const issued = await startSession(tx, platform, { tenant: { id: m.tenant_id, name: m.name }, user: { id: user.id, email: user.email }, role: builtInOf(m.role) }, client);
        await recordAuditEvent(tx, { tenantId: m.tenant_id, actor: { type: 'user', id: user.id }, action: 'auth.login', outcome: 'success', metadata: { mfa: false } });
        return issued;
      }));
      if (!outcome) {
        await recordFailures(keys);
        void auditLoginFailure(platform, { email: input.email, tenant: input.tenant, userId: user.id, reason: 'not a member of the tenant' }, client);
        throw invalidCredentials();
      }
      return outcome;
    },

    /** The second login step: an MFA ticket plus a TOTP or recovery code. Failures are throttled per user. */
    async verifyMfa(input: { ticket: string; code: string }, client: ClientInfo): Promise<IssuedTokens> {
      const ticketHash = hashOpaqueToken(input.ticket);
      const [ticket] = await platform.withIdentity((tx) =>
        tx.query<{ user_id: string; tenant_id: string | null; signup_tenant_name: string | null }>(sql`
          SELECT user_id, tenant_id, signup_tenant_name FROM mfa_tickets WHERE token_hash = ${ticketHash} AND used_at IS NULL AND expires_at > now()`),
      );
      if (!ticket) throw ticketGone();
      const keys = [throttleKey.mfa(ticket.user_id), throttleKey.ip(client.ip)];
      await claim(keys);
      const outcome = await afterClaim(keys, () => platform.withIdentity(async (tx) => {
        const claimTicket = async () => {
          // Thrown, not returned: a ticket used concurrently rolls back the factor this code consumed.
          const claimed = await tx.query(sql`UPDATE mfa_tickets SET used_at = now() WHERE token_hash = ${ticketHash} AND used_at IS NULL RETURNING user_id`);
          if (claimed.length === 0) throw ticketGone();
          await recordSuccesses(tx, keys);
        };
        // The second step of an existing account's signup: the tenant it asked for is created now.
        if (ticket.signup_tenant_name !== null) {
          const [user] = await tx.query<{ id: string; email: string }>(sql`SELECT id, email FROM users WHERE id = ${ticket.user_id}`);
          if (!user) throw ticketGone();
          if (!(await acceptSecondFactor(tx, platform.keyring, ticket.user_id, input.code))) return undefined;
          await claimTicket();
          return openTenant(tx, platform, { tenantName: ticket.signup_tenant_name, user, newAccount: false }, client, { mfa: true });
        }
        const tenantId = ticket.tenant_id!;
        // Membership first: a removed member's code is not consumed by a login that cannot happen.
        const [m] = await tx.query<{ role: string | null; name: string; email: string }>(sql`
          SELECT m.role, t.name, u.email FROM memberships m JOIN tenants t ON t.id = m.tenant_id AND t.status = 'active'
          JOIN users u ON u.id = m.user_id WHERE m.tenant_id = ${tenantId} AND m.user_id = ${ticket.user_id}`);
        if (!m) throw ticketGone();
        const factor = await acceptSecondFactor(tx, platform.keyring, ticket.user_id, input.code);
        if (!factor) return undefined;
        await claimTicket();
        const issued = await startSession(tx, platform, { tenant: { id: tenantId, name: m.name }, user: { id: ticket.user_id, email: m.email }, role: builtInOf(m.role) }, client, { mfa: true });
        await recordAuditEvent(tx, { tenantId: tenantId, actor: { type: 'user', id: ticket.user_id }, action: 'auth.login', outcome: 'success', metadata: { mfa: true } });
        return issued;
      }));
      if (!outcome) {
        await recordFailures(keys);
        void auditLoginFailure(platform, { email: '', tenant: ticket.tenant_id ?? undefined, userId: ticket.user_id, reason: 'wrong second factor', action: 'auth.mfa_verified' }, client);
        throw new ProblemError('invalid-credentials', 401, 'The code is not right.');
      }
      return outcome;
    },

    /**
     * Rotates a refresh token. A token that was already used is a sign of theft:
     * the whole session is revoked (committed) before the caller is refused.
     * The new access token carries the member's current role.
     */
    async refresh(refreshToken: string): Promise<IssuedTokens> {
      const outcome = await platform.withIdentity(async (tx) => {
        const [row] = await tx.query<{
          token_id: string; tenant_id: string; session_id: string; used: boolean; used_recently: boolean; token_expired: boolean;
          session_live: boolean; user_id: string; email: string; tenant_name: string; tenant_status: string; role: string | null; member: boolean;
        }>(sql`
          SELECT rt.id AS token_id, rt.tenant_id, rt.session_id, rt.used_at IS NOT NULL AS used,
                 rt.used_at > now() - make_interval(secs => ${platform.config.refreshReuseGraceSeconds}) AS used_recently,
                 rt.expires_at <= now() AS token_expired,
                 (s.revoked_at IS NULL AND s.expires_at > now()) AS session_live,
                 u.id AS user_id, u.email, t.name AS tenant_name, t.status AS tenant_status, m.role, m.user_id IS NOT NULL AS member
          FROM refresh_tokens rt
          JOIN sessions s ON s.id = rt.session_id
          JOIN users u ON u.id = s.user_id
          JOIN tenants t ON t.id = rt.tenant_id
          LEFT JOIN memberships m ON m.tenant_id = rt.tenant_id AND m.user_id = s.user_id
          WHERE rt.token_hash = ${hashOpaqueToken(refreshToken)}
          FOR UPDATE OF rt`);
        if (!row) return { kind: 'invalid' as const };
        // Two tabs refreshing at once: the loser is told to retry, the session survives.
        if (row.used && row.used_recently && row.session_live) return { kind: 'race' as const };
        if (row.used || !row.member || row.tenant_status !== 'active') {
          const ended = await tx.query(sql`UPDATE sessions SET revoked_at = now(), revoked_reason = ${row.used ? 'refresh-token-reuse' : 'membership-ended'}
            WHERE id = ${row.session_id} AND revoked_at IS NULL RETURNING id`);
          // Once per session: replaying a dead token again must not write to the audit log each time.
          if (ended.length > 0) await recordAuditEvent(tx, {
            tenantId: row.tenant_id, actor: { type: 'user', id: row.user_id }, action: 'session.revoked', target: { type: 'session', id: row.session_id },
            outcome: row.used ? 'failure' : 'success', reason: row.used ? 'refresh token reused: possible theft' : 'membership ended',
          });
          return { kind: 'revoked' as const, sessionId: row.session_id };
        }
        if (row.token_expired || !row.session_live) return { kind: 'invalid' as const };
        await tx.query(sql`UPDATE refresh_tokens SET used_at = now() WHERE tenant_id = ${row.tenant_id} AND id = ${row.token_id}`);
        await tx.query(sql`UPDATE sessions SET last_used_at = now() WHERE id = ${row.session_id}`);
        const next = await addRefreshToken(tx, row.tenant_id, row.session_id, platform.config.refreshTokenTtlSeconds);
        const tokens = await tokensFor(
          platform,
          { tenant: { id: row.tenant_id, name: row.tenant_name }, user: { id: row.user_id, email: row.email }, role: builtInOf(row.role) },
          row.session_id,
          next,
        );
        return { kind: 'ok' as const, tokens };
      });
      if (outcome.kind === 'revoked') onSessionRevoked(outcome.sessionId);
      if (outcome.kind === 'race') {
        throw new ProblemError('refresh-race', 409, 'This refresh token was rotated moments ago; use the newest one.');
      }
      if (outcome.kind !== 'ok') throw invalidRefresh();
      return outcome.tokens;
    },

    async logout(principal: Principal): Promise<void> {
      // External tokens have no session here; their provider ends them.
      if (!principal.sessionId) return;
      await platform.withTenant(contextOf(principal), async (tx) => {
        await tx.query(sql`UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout'
          WHERE id = ${principal.sessionId} AND revoked_at IS NULL`);
        await recordAuditEvent(tx, { tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'auth.logout', target: { type: 'session', id: principal.sessionId ?? undefined }, outcome: 'success' });
      });
    },

    async me(principal: Principal) {
      const [row] = await platform.withTenant(contextOf(principal), (tx) =>
        tx.query<{ id: string; email: string; display_name: string | null; tenant_name: string }>(sql`
          SELECT u.id, u.email, u.display_name, t.name AS tenant_name
          FROM users u, tenants t WHERE u.id = ${principal.userId} AND t.id = ${principal.tenantId}`),
      );
      if (!row) throw notFound('user');
      return {
        user: { id: row.id, email: row.email, displayName: row.display_name },
        tenant: { id: principal.tenantId, name: row.tenant_name },
        roles: principal.roles,
        permissions: [...principal.permissions].sort(),
        sessionId: principal.sessionId,
      };
    },
  };
}
export type AuthService = ReturnType<typeof createAuthService>;

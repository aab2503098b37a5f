import { sql } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import { KernelError } from '../errors.ts';
import type { Platform } from '../platform.ts';
import { isBuiltInRole, type BuiltInRole } from '../access/catalog.ts';
import { InvalidTokenError } from './access-tokens.ts';
import { isApiKey } from './api-keys.ts';
import { principalFromApiKey, principalFromExternal, UnmappedIdentityError } from './credentials.ts';
import { OidcError, OidcVerifier, peekIssuer, type ExternalRefusal } from './oidc.ts';
import type { Principal } from './principal.ts';

const SESSION_CHECK_TTL_MS = 5_000;
const CACHE_MAX = 50_000;

interface SessionState {
  active: boolean;
  mfaAt: Date | null;
  mfaRequired: boolean;
  /** The member's current built-in role and custom roles' permissions: a role change applies within the check interval. */
  roles: BuiltInRole[];
  permissions: Set<string>;
}

interface VerifiedExternal {
  principal: Principal;
  issuer: string;
  kid: string | undefined;
}

export interface Authenticated {
  principal: Principal;
  /** The tenant requires a second factor of admins (built-in sessions only). */
  mfaRequired: boolean;
}

/**
 * A bearer credential → a Principal: API keys (`ocs_ak_…`, looked up every
 * time), external OIDC tokens of configured issuers (verified, then trusted
 * for at most the issuer's `tokenCacheSeconds` — 60 s by default — and never
 * past `exp`, and dropped as soon as the JWKS no longer publishes their key; the
 * tenant mapping is re-resolved with each verification), built-in EdDSA access
 * tokens (verified once, cached until `exp`) whose session is re-checked at most
 * every SESSION_CHECK_TTL_MS. Every cache holds only what passed full
 * verification. Refused external tokens are logged and counted by reason,
 * never with the token.
 */
const unauthenticated = (detail: string) => new KernelError('unauthenticated', detail);

export function createAuthenticator(platform: Platform) {
  // Wall-clock time, read on every check (no ttlResolution debounce), like every expiry it is compared with.
  const clock = { perf: { now: () => Date.now() }, ttlResolution: 0 };
  const sessions = new LRUCache<string, SessionState>({ max: CACHE_MAX, ttl: SESSION_CHECK_TTL_MS, ...clock });
  const external = new LRUCache<string, VerifiedExternal>({ max: CACHE_MAX, ttl: 60_000, ...clock });
  const oidc = platform.config.oidcIssuers.length ? new OidcVerifier(platform.config.oidcIssuers) : undefined;

  function refuseExternal(reason: ExternalRefusal, issuer: string | undefined): never {
    platform.metrics.externalTokenRefusals.inc({ reason });
    // The issuer is what the token claims; it is logged clipped, and the token never is.
    platform.log.warn({ reason, issuer: issuer?.slice(0, 200) }, 'external token refused');
    throw unauthenticated('The bearer token is invalid or expired.');
  }

  async function sessionState(claims: { sid: string; tid: string; sub: string }): Promise<SessionState> {
    const cached = sessions.get(claims.sid);
    if (cached) return cached;
    // A second factor proven earlier counts only while the user still has one (disabling it ends it).
    const [row] = await platform.queryAsTenant<{ active: boolean; mfa_at: Date | null; mfa_required: boolean; role: string | null; custom: string[] }>(
      { tenantId: claims.tid, userId: claims.sub },
      sql`SELECT (s.revoked_at IS NULL AND s.expires_at > now() AND t.status = 'active' AND t.deleted_at IS NULL AND m.user_id IS NOT NULL) AS active,
            CASE WHEN EXISTS (SELECT 1 FROM user_mfa f WHERE f.user_id = s.user_id AND f.confirmed_at IS NOT NULL) THEN s.mfa_at END AS mfa_at,
            t.mfa_required_for_admins AS mfa_required, m.role,
            ARRAY(SELECT DISTINCT p FROM member_roles mr JOIN tenant_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id, unnest(r.permissions) p
                  WHERE mr.tenant_id = s.tenant_id AND mr.user_id = s.user_id) AS custom
          FROM sessions s JOIN tenants t ON t.id = s.tenant_id
          LEFT JOIN memberships m ON m.tenant_id = s.tenant_id AND m.user_id = s.user_id
          WHERE s.id = ${claims.sid} AND s.user_id = ${claims.sub}`,
    );
    const roles = isBuiltInRole(row?.role) ? [row.role] : [];
    const state = {
      active: row?.active === true, mfaAt: row?.mfa_at ?? null, mfaRequired: row?.mfa_required === true,
      roles, permissions: platform.permissions.permissionsOf(roles, [row?.custom ?? []]),
    };
    sessions.set(claims.sid, state);
    return state;
  }

  async function builtIn(token: string): Promise<Authenticated> {
    let claims;
    try {
      claims = await platform.tokens.verify(token);
    } catch (err) {
      if (err instanceof InvalidTokenError) {
        // A JWT naming an issuer that is neither ours nor configured: an external token from nowhere we trust.
        const iss = oidc ? peekIssuer(token) : undefined;
        if (iss !== undefined && iss !== platform.config.issuer) refuseExternal('unknown-issuer', iss);
        throw unauthenticated('The bearer token is invalid or expired.');
      }
      throw err;
    }
    return sessionPrincipal(claims);
  }

  /** The principal of a built-in session named by verified claims (an access token's, or a redeemed one-time ticket's). */
  async function sessionPrincipal(claims: { sid: string; tid: string; sub: string }): Promise<Authenticated> {
    const state = await sessionState(claims);
    if (!state.active) throw unauthenticated('The session has ended.');
    return {
      principal: {
        kind: 'user', userId: claims.sub, keyId: null, tenantId: claims.tid, roles: state.roles,
        sessionId: claims.sid, permissions: state.permissions, mfaAt: state.mfaAt,
      },
      mfaRequired: state.mfaRequired,
    };
  }

  async function externalToken(token: string): Promise<Principal> {
    const hit = external.get(token);
    if (hit && oidc!.keyStillPublished(hit.issuer, hit.kid)) return hit.principal;
    if (hit) external.delete(token);
    try {
      const identity = await oidc!.verify(token);
      const principal = await principalFromExternal(platform, identity);
      // The signature stays valid until exp, but the provider may withdraw its key and the tenant
      // mapping can change (deletion, suspension): trust the verification for a bounded time only.
      const boundMs = oidc!.cacheSeconds(oidc!.issuer(identity.issuer)!) * 1000;
      external.set(token, { principal, issuer: identity.issuer, kid: identity.kid }, { ttl: Math.max(1, Math.min(boundMs, identity.expiresAt * 1000 - Date.now())) });
      return principal;
    } catch (err) {
      if (err instanceof OidcError || err instanceof UnmappedIdentityError) refuseExternal(err.reason, peekIssuer(token));
      throw err;
    }
  }

  return {
    async authenticate(token: string): Promise<Authenticated> {
      if (isApiKey(token)) {
        const principal = await principalFromApiKey(platform, token);
        if (!principal) throw unauthenticated('The API key is invalid, expired or revoked.');
        return { principal, mfaRequired: false };
      }
      if (oidc?.handles(token)) return { principal: await externalToken(token), mfaRequired: false };
      return builtIn(token);
    },
    sessionPrincipal,
    forgetSession(sid: string): void {
      sessions.delete(sid);
    },
  };
}

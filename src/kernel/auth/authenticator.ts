import { sql } from 'drizzle-orm';
import { unauthenticated } from '../../http/problem.ts';
import type { Platform } from '../../platform.ts';
import { permissionsOf } from '../access/permissions.ts';
import { InvalidTokenError } from './access-tokens.ts';
import { isApiKey } from './api-keys.ts';
import { principalFromApiKey, principalFromExternal, UnmappedIdentityError } from './credentials.ts';
import { OidcError, OidcVerifier } from './oidc.ts';
import type { Principal } from './principal.ts';

const SESSION_CHECK_TTL_MS = 5_000;
const EXTERNAL_RECHECK_SECONDS = 60;
const CACHE_MAX = 50_000;

interface SessionState {
  active: boolean;
  mfaAt: Date | null;
  mfaRequired: boolean;
  checkedAt: number;
}

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= CACHE_MAX) map.delete(map.keys().next().value as K);
  map.set(key, value);
}

export interface Authenticated {
  principal: Principal;
  /** The tenant requires a second factor of admins (built-in sessions only). */
  mfaRequired: boolean;
}

/**
 * A bearer credential → a Principal: API keys (`ocs_ak_…`, looked up every
 * time), external OIDC tokens of configured issuers (verified once, cached
 * until `exp`), built-in EdDSA access tokens (verified once, cached until
 * `exp`) whose session is re-checked at most every SESSION_CHECK_TTL_MS;
 * an external principal's tenant mapping is re-resolved every minute.
 * Every cache holds only what passed full verification.
 */
export function createAuthenticator(platform: Platform) {
  const sessions = new Map<string, SessionState>();
  const external = new Map<string, { principal: Principal; exp: number }>();
  const oidc = platform.config.oidcIssuers.length ? new OidcVerifier(platform.config.oidcIssuers) : undefined;

  async function sessionState(claims: { sid: string; tid: string; sub: string }): Promise<SessionState> {
    const now = Date.now();
    const cached = sessions.get(claims.sid);
    if (cached && now - cached.checkedAt < SESSION_CHECK_TTL_MS) return cached;
    // A second factor proven earlier counts only while the user still has one (disabling it ends it).
    const [row] = await platform.queryAsTenant<{ active: boolean; mfa_at: Date | null; mfa_required: boolean }>(
      { tenantId: claims.tid, userId: claims.sub },
      sql`SELECT (s.revoked_at IS NULL AND s.expires_at > now() AND t.status = 'active' AND t.deleted_at IS NULL) AS active,
            CASE WHEN EXISTS (SELECT 1 FROM user_mfa f WHERE f.user_id = s.user_id AND f.confirmed_at IS NOT NULL) THEN s.mfa_at END AS mfa_at,
            t.mfa_required_for_admins AS mfa_required
          FROM sessions s JOIN tenants t ON t.id = s.tenant_id WHERE s.id = ${claims.sid} AND s.user_id = ${claims.sub}`,
    );
    const state = { active: row?.active === true, mfaAt: row?.mfa_at ?? null, mfaRequired: row?.mfa_required === true, checkedAt: now };
    remember(sessions, claims.sid, state);
    return state;
  }

  async function builtIn(token: string): Promise<Authenticated> {
    let claims;
    try {
      claims = await platform.tokens.verify(token);
    } catch (err) {
      if (err instanceof InvalidTokenError) throw unauthenticated('The bearer token is invalid or expired.');
      throw err;
    }
    const state = await sessionState(claims);
    if (!state.active) throw unauthenticated('The session has ended.');
    return {
      principal: {
        kind: 'user', userId: claims.sub, keyId: null, tenantId: claims.tid, roles: claims.roles,
        sessionId: claims.sid, permissions: permissionsOf(claims.roles), mfaAt: state.mfaAt,
      },
      mfaRequired: state.mfaRequired,
    };
  }

  async function externalToken(token: string): Promise<Principal> {
    const hit = external.get(token);
    if (hit && hit.exp > Date.now() / 1000) return hit.principal;
    try {
      const identity = await oidc!.verify(token);
      const principal = await principalFromExternal(platform, identity);
      // The signature stays valid until exp, but the tenant mapping can change (deletion, suspension):
      // re-resolve at least once a minute.
      remember(external, token, { principal, exp: Math.min(identity.expiresAt, Date.now() / 1000 + EXTERNAL_RECHECK_SECONDS) });
      return principal;
    } catch (err) {
      if (err instanceof OidcError || err instanceof UnmappedIdentityError) throw unauthenticated('The bearer token is invalid or expired.');
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
    forgetSession(sid: string): void {
      sessions.delete(sid);
    },
  };
}

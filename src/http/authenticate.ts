import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sql } from 'drizzle-orm';
import { permissionsOf, rankOf } from '../kernel/access/permissions.ts';
import type { RouteSecurity } from '../kernel/access/policy.ts';
import { InvalidTokenError } from '../kernel/auth/access-tokens.ts';
import { isApiKey } from '../kernel/auth/api-keys.ts';
import { principalFromApiKey, principalFromExternal, UnmappedIdentityError } from '../kernel/auth/credentials.ts';
import { OidcError, OidcVerifier } from '../kernel/auth/oidc.ts';
import type { Principal } from '../kernel/auth/principal.ts';
import type { Platform } from '../platform.ts';
import { auditDenial } from '../kernel/audit/denials.ts';
import { forbidden, ProblemError, unauthenticated } from './problem.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyInstance {
    forgetSession(sid: string): void;
  }
}

const SESSION_CHECK_TTL_MS = 5_000;
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

/**
 * authenticate ─► route policy, in onRequest: a request that is not allowed is
 * refused before its body is even parsed. Credentials: the operator token
 * (/metrics), API keys (`ocs_ak_…`), external OIDC tokens from configured
 * issuers, and the built-in EdDSA access tokens. The tenant comes only from the
 * verified credential. A revoked session stops within SESSION_CHECK_TTL_MS on
 * every node and at once on the node that revoked it.
 */
export function registerAuthentication(app: FastifyInstance, platform: Platform) {
  const sessions = new Map<string, SessionState>();
  const external = new Map<string, { principal: Principal; exp: number }>();
  const oidc = platform.config.oidcIssuers.length ? new OidcVerifier(platform.config.oidcIssuers) : undefined;

  async function sessionState(claims: { sid: string; tid: string; sub: string }): Promise<SessionState> {
    const now = Date.now();
    const cached = sessions.get(claims.sid);
    if (cached && now - cached.checkedAt < SESSION_CHECK_TTL_MS) return cached;
    const [row] = await platform.queryAsTenant<{ active: boolean; mfa_at: Date | null; mfa_required: boolean }>(
      { tenantId: claims.tid, userId: claims.sub },
      sql`SELECT (s.revoked_at IS NULL AND s.expires_at > now()) AS active, s.mfa_at, t.mfa_required_for_admins AS mfa_required
          FROM sessions s JOIN tenants t ON t.id = s.tenant_id WHERE s.id = ${claims.sid} AND s.user_id = ${claims.sub}`,
    );
    const state = { active: row?.active === true, mfaAt: row?.mfa_at ?? null, mfaRequired: row?.mfa_required === true, checkedAt: now };
    remember(sessions, claims.sid, state);
    return state;
  }

  async function builtIn(token: string): Promise<{ principal: Principal; mfaRequired: boolean }> {
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
      remember(external, token, { principal, exp: identity.expiresAt });
      return principal;
    } catch (err) {
      if (err instanceof OidcError || err instanceof UnmappedIdentityError) throw unauthenticated('The bearer token is invalid or expired.');
      throw err;
    }
  }

  app.decorateRequest('principal', null);
  app.decorate('forgetSession', (sid: string) => sessions.delete(sid));

  const operatorDigest = platform.config.operatorToken
    ? createHash('sha256').update(platform.config.operatorToken).digest()
    : undefined;

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const security = request.routeOptions.config?.security;
    if (!security || security.policy === 'public') return;

    const token = bearerToken(request);
    if (security.policy === 'operator') {
      if (!operatorDigest) throw new ProblemError('service-unavailable', 503, 'Set OCSUITE_OPERATOR_TOKEN to enable this endpoint.');
      const given = createHash('sha256').update(token ?? '').digest();
      if (!token || !timingSafeEqual(given, operatorDigest)) throw unauthenticated('A valid operator token is required.');
      return;
    }
    if (!token) throw unauthenticated();

    let principal: Principal;
    let mfaRequired = false;
    if (isApiKey(token)) {
      const p = await principalFromApiKey(platform, token);
      if (!p) throw unauthenticated('The API key is invalid, expired or revoked.');
      principal = p;
    } else if (oidc?.handles(token)) {
      principal = await externalToken(token);
    } else {
      ({ principal, mfaRequired } = await builtIn(token));
    }
    request.principal = principal;
    try {
      authorize(principal, security, mfaRequired, platform.config.stepUpMaxAgeSeconds);
    } catch (err) {
      // A refusal of an authenticated principal is an audit event of its tenant (not awaited).
      if (err instanceof ProblemError && err.status === 403) void auditDenial(platform, request, principal, err.detail ?? err.kind);
      throw err;
    }
  });
}

/** Route permission, the tenant's MFA requirement for admins, and step-up freshness. */
function authorize(principal: Principal, security: RouteSecurity, mfaRequired: boolean, stepUpMaxAgeSeconds: number): void {
  const policy = security.policy as { permission: Parameters<Set<string>['has']>[0] };
  if (!principal.permissions.has(policy.permission as never)) {
    const what = principal.kind === 'api_key' ? 'This API key lacks the' : 'This action requires the';
    throw forbidden(`${what} ${policy.permission} permission.`);
  }
  const privileged = principal.roles.some((r) => rankOf(r) >= rankOf('admin'));
  if (mfaRequired && privileged && !principal.mfaAt && policy.permission !== 'session') {
    throw new ProblemError('mfa-required', 403, 'This tenant requires admins to use a second factor: enrol at /api/v1/auth/mfa/enrol.');
  }
  if (security.stepUp) {
    const fresh = principal.mfaAt && Date.now() - principal.mfaAt.getTime() <= stepUpMaxAgeSeconds * 1000;
    if (!fresh) {
      throw new ProblemError('step-up-required', 403, 'Confirm with your second factor at /api/v1/auth/mfa/step-up, then retry.', {
        extensions: { maxAgeSeconds: stepUpMaxAgeSeconds },
      });
    }
  }
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
  return match?.[1];
}

/** The principal of a route whose policy requires one; a bug if absent. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthenticated();
  return request.principal;
}

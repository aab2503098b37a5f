import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sql } from 'drizzle-orm';
import { permissionsOf } from '../kernel/access/permissions.ts';
import { InvalidTokenError } from '../kernel/auth/access-tokens.ts';
import type { Principal } from '../kernel/auth/principal.ts';
import type { Platform } from '../platform.ts';
import { forbidden, ProblemError, unauthenticated } from './problem.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const SESSION_CHECK_TTL_MS = 5_000;
const SESSION_CACHE_MAX = 50_000;

/**
 * authenticate ─► route policy, in onRequest: a request that is not allowed is
 * refused before its body is even parsed. The tenant comes only from the
 * verified token. A revoked session stops working within SESSION_CHECK_TTL_MS
 * on every node (at once on the node that revoked it).
 */
export function registerAuthentication(app: FastifyInstance, platform: Platform) {
  const sessions = new Map<string, { active: boolean; checkedAt: number }>();

  async function sessionActive(claims: { sid: string; tid: string; sub: string }): Promise<boolean> {
    const now = Date.now();
    const cached = sessions.get(claims.sid);
    if (cached && now - cached.checkedAt < SESSION_CHECK_TTL_MS) return cached.active;
    const rows = await platform.withTenant({ tenantId: claims.tid, userId: claims.sub }, (tx) =>
      tx.query<{ active: boolean }>(sql`
        SELECT (s.revoked_at IS NULL AND s.expires_at > now()) AS active FROM sessions s
        WHERE s.id = ${claims.sid} AND s.user_id = ${claims.sub}`),
    );
    const active = rows[0]?.active === true;
    if (sessions.size >= SESSION_CACHE_MAX) sessions.delete(sessions.keys().next().value as string);
    sessions.set(claims.sid, { active, checkedAt: now });
    return active;
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
    let claims;
    try {
      claims = await platform.tokens.verify(token);
    } catch (err) {
      if (err instanceof InvalidTokenError) throw unauthenticated('The bearer token is invalid or expired.');
      throw err;
    }
    if (!(await sessionActive(claims))) throw unauthenticated('The session has ended.');
    const permissions = permissionsOf(claims.roles);
    request.principal = { kind: 'user', userId: claims.sub, tenantId: claims.tid, roles: claims.roles, sessionId: claims.sid, permissions };
    if (!permissions.has(security.policy.permission)) {
      throw forbidden(`This action requires the ${security.policy.permission} permission.`);
    }
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    forgetSession(sid: string): void;
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

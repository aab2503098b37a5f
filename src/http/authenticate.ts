import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SESSION_PERMISSION, type PermissionCatalog } from '../kernel/access/catalog.ts';
import type { RouteSecurity } from '../kernel/access/policy.ts';
import { createAuthenticator } from '../kernel/auth/authenticator.ts';
import type { Principal } from '../kernel/auth/principal.ts';
import type { Platform } from '../kernel/platform.ts';
import { auditDenial } from '../kernel/audit/denials.ts';
import { KernelError } from '../kernel/errors.ts';
import { forbidden, ProblemError, unauthenticated } from './problem.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyInstance {
    forgetSession(sid: string): void;
  }
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
  const authenticator = createAuthenticator(platform);
  app.decorateRequest('principal', null);
  // Here at once, on the other API nodes as soon as the hint arrives (else their next session check, ≤ 5 s).
  app.decorate('forgetSession', (sid: string) => {
    authenticator.forgetSession(sid);
    platform.bus?.publish('session.forget', { sid });
  });
  const unsubscribe = platform.bus?.on('session.forget', (m) => {
    if (typeof m.sid === 'string') authenticator.forgetSession(m.sid);
  });
  if (unsubscribe) app.addHook('onClose', async () => unsubscribe());

  const operatorDigest = platform.config.operatorToken
    ? createHash('sha256').update(platform.config.operatorToken).digest()
    : undefined;

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const security = request.routeOptions.config?.security;
    if (!security || security.policy === 'public') return;

    const upgrade = isWebSocketUpgrade(request);
    const token = bearerToken(request) ?? (upgrade ? subprotocolToken(request) : undefined);
    if (security.policy === 'operator') {
      if (!operatorDigest) throw new ProblemError('service-unavailable', 503, 'Set OCSUITE_OPERATOR_TOKEN to enable this endpoint.');
      const given = createHash('sha256').update(token ?? '').digest();
      if (!token || !timingSafeEqual(given, operatorDigest)) throw unauthenticated('A valid operator token is required.');
      return;
    }
    const ticket = upgrade && security.redeemTicket ? ticketOf(request) : undefined;
    if (!token && !ticket) throw unauthenticated();

    const { principal, mfaRequired } = token
      ? await authenticator.authenticate(token)
      : await redeem(security.redeemTicket!, ticket!);
    request.principal = principal;
    authorize(principal, security, mfaRequired, platform.config.stepUpMaxAgeSeconds, platform.permissions);
  });

  async function redeem(redeemTicket: NonNullable<RouteSecurity['redeemTicket']>, ticket: string) {
    const claims = await redeemTicket(ticket);
    if (!claims) throw unauthenticated('The ticket is invalid, expired or already used.');
    return authenticator.sessionPrincipal(claims);
  }

  // Every refusal of an authenticated principal is an audit event of its tenant (not awaited):
  // the route policy's, and those of rules inside handlers (role escalation, last owner, …).
  app.addHook('onError', async (request, _reply, err) => {
    const problem = err instanceof KernelError ? ProblemError.of(err) : undefined;
    if (request.principal && problem?.status === 403) {
      void auditDenial(platform, request, `${request.method} ${request.routeOptions.url ?? 'unmatched'}`, request.principal, problem.detail ?? problem.kind);
    }
  });
}

/** Route permission, the tenant's MFA requirement for admins, and step-up freshness. */
function authorize(principal: Principal, security: RouteSecurity, mfaRequired: boolean, stepUpMaxAgeSeconds: number, catalog: PermissionCatalog): void {
  const policy = security.policy as { permission: Parameters<Set<string>['has']>[0] };
  if (!principal.permissions.has(policy.permission as never)) {
    const what = principal.kind === 'api_key' ? 'This API key lacks the' : 'This action requires the';
    throw forbidden(`${what} ${policy.permission} permission.`);
  }
  // Admins are whoever holds an administrative permission, through a built-in or a custom role.
  const privileged = catalog.isPrivileged(principal.permissions);
  if (mfaRequired && privileged && !principal.mfaAt && policy.permission !== SESSION_PERMISSION) {
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
  // RFC 9110 §11.1: the scheme is case-insensitive.
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
  return match?.[1];
}

const isWebSocketUpgrade = (request: FastifyRequest) =>
  request.method === 'GET' && request.headers.upgrade?.toLowerCase() === 'websocket';

/**
 * A WebSocket client offers the access token as the subprotocol `bearer.<token>`
 * beside the real one (the server never selects it, so it is not echoed back):
 * never a long-lived token in the URL, where proxies and logs would keep it.
 */
function subprotocolToken(request: FastifyRequest): string | undefined {
  const offered = request.headers['sec-websocket-protocol'];
  if (typeof offered !== 'string') return undefined;
  for (const protocol of offered.split(',')) {
    const match = /^bearer\.([A-Za-z0-9._~+/-]+=*)$/.exec(protocol.trim());
    if (match) return match[1];
  }
  return undefined;
}

function ticketOf(request: FastifyRequest): string | undefined {
  const ticket = (request.query as Record<string, unknown> | undefined)?.ticket;
  return typeof ticket === 'string' && ticket.length > 0 && ticket.length <= 200 ? ticket : undefined;
}

/** The principal of a route whose policy requires one; a bug if absent. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthenticated();
  return request.principal;
}

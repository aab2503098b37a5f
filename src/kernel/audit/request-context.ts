/**
 * The request an audit event belongs to, without threading it through every
 * service signature: the HTTP layer runs each handler inside an
 * AsyncLocalStorage scope holding the request's IP, user agent and id
 * (http/access-log.ts), and recordAuditEvent fills `event.request` from it when
 * the caller did not.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Where an audited action came from. */
export interface AuditRequestInfo {
  ip?: string;
  userAgent?: string;
  requestId?: string;
}

const scope = new AsyncLocalStorage<AuditRequestInfo>();

/** The parts of an HTTP request an audit event records (a Fastify request has them). */
export interface RequestLike {
  ip: string;
  id: unknown;
  headers: Record<string, string | string[] | undefined>;
}

/** What a route knows about the request, for `event.request`. */
export function auditRequestOf(request: RequestLike): AuditRequestInfo {
  const ua = request.headers['user-agent'];
  return {
    ip: request.ip,
    requestId: String(request.id),
    ...(typeof ua === 'string' && ua.length > 0 ? { userAgent: ua } : {}),
  };
}

export function currentAuditRequest(): AuditRequestInfo | undefined {
  return scope.getStore();
}

export function runWithAuditRequest<T>(info: AuditRequestInfo, fn: () => T): T {
  return scope.run(info, fn);
}

/**
 * The request an audit event belongs to, without threading it through every
 * service signature: a preHandler hook runs the handler inside an
 * AsyncLocalStorage scope holding the request's IP, user agent and id, and
 * recordAuditEvent fills `event.request` from it when the caller did not.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditRequestInfo } from './events.ts';

const scope = new AsyncLocalStorage<AuditRequestInfo>();

/** What a route knows about the request, for `event.request`. */
export function auditRequestOf(request: FastifyRequest): AuditRequestInfo {
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

export function registerAuditRequestContext(app: FastifyInstance): void {
  // preHandler runs after body parsing, so the handler is called synchronously from `done`, inside the scope.
  app.addHook('preHandler', (request, _reply, done) => {
    scope.run(auditRequestOf(request), done);
  });
}

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AccessLogWriter, type AccessLine } from '../kernel/audit/access-log.ts';
import { drainAuditWrites } from '../kernel/audit/background.ts';
import { auditRequestOf, runWithAuditRequest } from '../kernel/audit/request-context.ts';
import type { Platform } from '../kernel/platform.ts';

declare module 'fastify' {
  interface FastifyInstance {
    accessLog: AccessLogWriter | null;
  }
}

const clip = (s: string, max: number) => (s.length > max ? s.slice(0, max) : s);

/** The access line of a request Fastify parsed: the route template, never the raw URL (which can carry tokens). */
export function accessLineOf(request: FastifyRequest, status: number, durationMs: number): AccessLine {
  const p = request.principal;
  return {
    at: new Date(),
    tenantId: p?.tenantId ?? null,
    userId: p?.userId ?? null,
    method: clip(request.method, 10),
    route: clip(request.routeOptions.url ?? 'unmatched', 300),
    status,
    durationMs: Math.round(durationMs * 100) / 100,
    ip: request.ip ? clip(request.ip, 100) : null,
    requestId: clip(String(request.id), 200),
  };
}

/**
 * The access line of an answer written on the socket before any request was
 * parsed (a request that never finished arriving, malformed HTTP, a refused
 * connection): no method, no route, only who and what we answered.
 */
export function rawAccessLine(ip: string | undefined, status: number, requestId: string): AccessLine {
  return {
    at: new Date(), tenantId: null, userId: null, method: '-', route: 'unparsed', status, durationMs: 0,
    ip: ip ? clip(ip, 100) : null, requestId,
  };
}

/** Audit hooks of the HTTP server: the request scope of audit events, and the access log. */
export function registerAuditHooks(app: FastifyInstance, platform: Platform): void {
  // preHandler runs after body parsing, so the handler is called synchronously from `done`, inside the scope.
  app.addHook('preHandler', (request, _reply, done) => {
    runWithAuditRequest(auditRequestOf(request), done);
  });
  registerAccessLog(app, platform);
  // Denials and failed logins recorded off the response path finish before the database closes.
  app.addHook('onClose', async () => drainAuditWrites());
}

/** Adds the access-log hook and its flush on close (no-op when OCSUITE_ACCESS_LOG=false). */
function registerAccessLog(app: FastifyInstance, platform: Platform): void {
  if (!platform.config.accessLogEnabled) {
    app.decorate('accessLog', null);
    return;
  }
  const writer = new AccessLogWriter({
    db: platform.db,
    statementTimeoutMs: platform.config.statementTimeoutMs,
    flushMs: platform.config.accessLogFlushMs,
    log: platform.log,
  });
  app.decorate('accessLog', writer);
  if (platform.config.accessLogSync) {
    // The answer leaves only once its line is committed: a process killed -9 loses no line of a
    // request that got a response (the batch is shared by the requests answered meanwhile).
    app.addHook('onSend', async (request, reply, payload) => {
      await writer.pushCommitted(accessLineOf(request, reply.statusCode, reply.elapsedTime));
      return payload;
    });
    app.addHook('onClose', async () => writer.close());
    return;
  }
  app.addHook('onResponse', (request, reply, done) => {
    writer.push(accessLineOf(request, reply.statusCode, reply.elapsedTime));
    done();
  });
  app.addHook('onClose', async () => writer.close());
}

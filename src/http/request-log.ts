import type { FastifyInstance } from 'fastify';
import type { Platform } from '../kernel/platform.ts';

/**
 * One structured line per request: ids, route template (never the raw URL,
 * which can carry tokens), status and duration. Headers and bodies are never logged.
 */
export function registerRequestLog(app: FastifyInstance, platform: Platform) {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const durationMs = reply.elapsedTime;
    const status = reply.statusCode;
    platform.metrics.httpDuration.observe({ method: request.method, route, status: String(status) }, durationMs / 1000);
    if (status === 401 || status === 403) platform.metrics.authFailures.inc({ route, status: String(status), code: request.problemCode ?? 'none' });
    else if (status === 429) platform.metrics.rateLimited.inc({ route });
    request.log.info(
      {
        tenantId: request.principal?.tenantId,
        userId: request.principal?.userId,
        method: request.method,
        route,
        status: reply.statusCode,
        durationMs: Math.round(durationMs * 100) / 100,
        ip: request.ip,
      },
      'request',
    );
  });
}

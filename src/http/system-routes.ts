import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { sql } from 'drizzle-orm';
import type { Platform } from '../kernel/platform.ts';
import { unavailableReason } from '../db/availability.ts';
import { ProblemError } from './problem.ts';

const Status = Type.Object({ status: Type.String() });
const Jwks = Type.Object({
  keys: Type.Array(Type.Object({ kty: Type.String(), crv: Type.String(), x: Type.String(), kid: Type.String(), alg: Type.String(), use: Type.String() })),
});

/** Health, readiness, the public keys and the OpenAPI document; metrics behind the operator token. */
export const systemRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  app.get('/healthz', {
    config: { security: { policy: 'public', rateClass: 'health' } },
    schema: { tags: ['system'], operationId: 'systemHealth', summary: 'Liveness: the process answers', response: { 200: Status } },
  }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    config: { security: { policy: 'public', rateClass: 'health' } },
    schema: { tags: ['system'], operationId: 'systemReadiness', summary: 'Readiness: the database answers', response: { 200: Status } },
  }, async () => {
    try {
      await platform.withIdentity((tx) => tx.query(sql`SELECT 1`));
    } catch (err) {
      throw new ProblemError('service-unavailable', 503, 'The database is not reachable.', { headers: { 'retry-after': String(unavailableReason(err) === 'pool-timeout' ? 1 : 5) } });
    }
    return { status: 'ready' };
  });

  app.get('/.well-known/jwks.json', {
    config: { security: { policy: 'public' } },
    schema: { tags: ['system'], operationId: 'systemJwks', summary: 'Public keys that verify access tokens (RFC 7517)', response: { 200: Jwks } },
  }, async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return platform.tokens.jwks() as { keys: Array<{ kty: string; crv: string; x: string; kid: string; alg: string; use: string }> };
  });

  app.get('/openapi.json', {
    config: { security: { policy: 'public' } },
    schema: { operationId: 'systemOpenapi', summary: 'This OpenAPI document', hide: true },
  }, async () => app.swagger());

  app.get('/metrics', {
    config: { security: { policy: 'operator' } },
    schema: { operationId: 'systemMetrics', summary: 'Prometheus metrics (operator token)', tags: ['system'],
      response: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
  }, async (_req, reply) => {
    reply.type(platform.metrics.registry.contentType);
    return platform.metrics.registry.metrics();
  });
};

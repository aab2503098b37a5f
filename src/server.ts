import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { registerAuthentication } from './http/authenticate.ts';
import { rateLimitByClass } from './http/rate-classes.ts';
import { rejectMalformedText, requestSchemaCompiler } from './http/schema-validation.ts';
import { registerErrorHandling } from './http/error-handler.ts';
import { answerClientError, limitConnectionsPerIp, registerSlowClientGuards, serverTimeouts } from './http/slow-clients.ts';
import { answerBeforeRouting, registerNotFound } from './http/unrouted.ts';
import { ProblemError } from './http/problem.ts';
import { registerRequestLog } from './http/request-log.ts';
import { lazyChildLogger } from './http/request-logger.ts';
import { registerSecurityHeaders } from './http/security-headers.ts';
import { registerRequestDeadline } from './http/request-deadline.ts';
import { IDEMPOTENCY_HEADER, REPLAYED_HEADER, registerIdempotency } from './http/idempotency.ts';
import { reportOutages } from './http/outage-log.ts';

import { registerTracing } from './http/tracing.ts';
import { enforceRoutePolicies, UndeclaredPolicyError, type RouteInventoryEntry } from './http/route-policy.ts';
import { requireOperationPrefix } from './http/route-docs.ts';
import { systemRoutes } from './http/system-routes.ts';
import { modules as allModules } from './modules/index.ts';
import type { ModuleManifest } from './modules/manifest.ts';
import { registerAuditHooks } from './http/access-log.ts';
import { registerThrottleEvidence } from './http/throttle-evidence.ts';
import { sharedRateCounters } from './http/rate-store.ts';
import { registerPrincipalLimits } from './http/principal-limits.ts';
import type { Platform } from './kernel/platform.ts';

declare module 'fastify' {
  interface FastifyInstance {
    routeInventory: RouteInventoryEntry[];
  }
}

/**
 * Composes kernel and modules into one app, in the order of the request path
 * (DESIGN.md §3): request id, headers, CORS, limits ─► rate limit ─►
 * authenticate + route policy ─► schema validation ─► handler ─► response schema.
 */
export async function buildServer(platform: Platform, modules: readonly ModuleManifest[] = allModules): Promise<FastifyInstance> {
  const { config } = platform;
  let self: FastifyInstance | undefined;
  const app = Fastify({
    loggerInstance: platform.log as FastifyBaseLogger,
    // Our own access line (http/request-log.ts) replaces Fastify's, which would log raw URLs.
    logController: new LogController({ disableRequestLogging: true }),
    // The request's child logger is made when it first writes (http/request-logger.ts).
    childLoggerFactory: lazyChildLogger,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    bodyLimit: config.bodyLimitBytes,
    ...serverTimeouts(config),
    return503OnClosing: true,
    // Only the configured proxies' X-Forwarded-For is read (right to left, up to the first address
    // outside them: proxy-addr's walk); without OCSUITE_TRUSTED_PROXIES the socket's peer is the client.
    trustProxy: config.trustedProxies.length > 0 ? [...config.trustedProxies] : false,
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    frameworkErrors: answerBeforeRouting(() => self!),
    clientErrorHandler: answerClientError,
  }).withTypeProvider<TypeBoxTypeProvider>();
  self = app as unknown as FastifyInstance;
  app.setValidatorCompiler(requestSchemaCompiler());
  // Only routes that take a body pay for the check.
  app.addHook('onRoute', (route) => {
    if (!route.schema?.body) return;
    const existing = route.preValidation === undefined ? [] : Array.isArray(route.preValidation) ? route.preValidation : [route.preValidation];
    route.preValidation = [...existing, rejectMalformedText];
  });

  // Idempotency-Key first: the routes that take it list its header and problems before the
  // policies describe them. Policies next: every later onRoute hook (rate limit, swagger) sees the declared security.
  registerIdempotency(self, platform);
  app.decorate('routeInventory', enforceRoutePolicies(app, platform.permissions));
  registerErrorHandling(app, platform.db.availability);
  registerSlowClientGuards(self, config.requestTimeoutMs);
  registerRequestDeadline(self, config.requestTimeoutMs);
  reportOutages(self, platform);
  limitConnectionsPerIp(self, config.maxConnectionsPerIp);
  // Callback style: an async hook would cost a promise on every response.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    done(null, payload);
  });

  registerSecurityHeaders(self, {
    contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    hsts: { maxAge: 31_536_000, includeSubDomains: true },
  });
  await app.register(cors, {
    origin: config.corsOrigins.length === 0 ? false : config.corsOrigins.includes('*') ? '*' : config.corsOrigins,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', IDEMPOTENCY_HEADER],
    exposedHeaders: ['x-request-id', 'retry-after', REPLAYED_HEADER],
    maxAge: 600,
  });
  // Not per route (global: false): one onRequest hook ahead of authentication, so every answer —
  // 401s, 404s for unknown paths — draws on its client's budget (DESIGN.md §3: rate limit, then authenticate).
  // With REDIS_URL the counters are shared by every API node (falling back per process during an outage).
  const counters = config.redisUrl
    ? sharedRateCounters({ url: config.redisUrl, namespace: config.jobsPrefix, timeoutMs: config.rateLimitRedisTimeoutMs, log: platform.log, registry: platform.metrics.registry })
    : undefined;
  if (counters) {
    app.addHook('onClose', () => counters.close());
    // So the first requests are not counted alone (and logged as an outage) only because the connection is young.
    await counters.ready(2_000);
  }
  await app.register(rateLimit, {
    global: false,
    timeWindow: 60_000,
    ...(counters ? { store: counters.store } : {}),
    ...rateLimitByClass({
      perMinute: config.rateLimitPerMinute,
      authPerMinute: config.authRateLimitPerMinute,
      exportPerMinute: config.exportRateLimitPerMinute,
      healthPerMinute: config.healthRateLimitPerMinute,
      expensivePerMinute: config.expensiveRateLimitPerMinute,
    }, modules.flatMap((m) => m.rateClasses ?? [])),
    errorResponseBuilder: (_req, ctx) => {
      const err = new ProblemError('rate-limited', 429, `Rate limit exceeded; retry in ${Math.ceil(ctx.ttl / 1000)} s.`);
      (err as unknown as { statusCode: number }).statusCode = 429;
      return err;
    },
  });
  await app.register(swagger, {
    // Shared schemas (the one Problem) are components named by their $id, not def-0.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      openapi: '3.1.0',
      info: { title: 'OC-Suite API', version: '0.1.0', description: 'Every operation lists its security requirement; x-ocsuite-policy names the permission it needs.' },
      servers: [{ url: config.publicUrl }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          operatorToken: { type: 'http', scheme: 'bearer', description: 'OCSUITE_OPERATOR_TOKEN' },
        },
      },
    },
  });

  // Ahead of the rate limit: a refused request is a span too. No hook at all when tracing is off.
  if (platform.tracing) registerTracing(self, platform.tracing);
  app.addHook('onRequest', app.rateLimit());
  registerNotFound(self);
  registerAuthentication(app, platform);
  registerPrincipalLimits(self, {
    tenantPerMinute: config.tenantRateLimitPerMinute, userPerMinute: config.userRateLimitPerMinute, writePerMinute: config.writeRateLimitPerMinute,
    exportPerMinute: config.exportRateLimitPerMinute, expensivePerMinute: config.expensiveRateLimitPerMinute,
  });
  registerRequestLog(app, platform);
  registerAuditHooks(app, platform);
  registerThrottleEvidence(app, platform);

  await app.register(async (scope) => {
    requireOperationPrefix(scope, 'system', UndeclaredPolicyError);
    await scope.register(systemRoutes, { platform });
  });
  // Each module's routes under /api/v1 + its prefix, and its public routes at the root (docs/architecture.md);
  // each in a scope that holds its operationIds to the module's prefix.
  await app.register(
    async (api) => {
      for (const m of modules) {
        if (!m.api) continue;
        const { plugin, prefix } = m.api;
        await api.register(async (scope) => {
          requireOperationPrefix(scope, m.name, UndeclaredPolicyError);
          await scope.register(plugin, { platform, prefix });
        });
      }
    },
    { prefix: '/api/v1' },
  );
  for (const m of modules) {
    const { publicRoutes } = m;
    if (!publicRoutes) continue;
    await app.register(async (scope) => {
      requireOperationPrefix(scope, m.name, UndeclaredPolicyError);
      await scope.register(publicRoutes, { platform });
    });
  }
  await app.ready();
  return app as unknown as FastifyInstance;
}

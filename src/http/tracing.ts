import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Span } from '@opentelemetry/api';
import { SpanKind, type Tracing } from '../kernel/telemetry/tracing.ts';

const spans = new WeakMap<FastifyRequest, Span>();

/**
 * One server span per request, named by method and route template (never the
 * raw URL: query strings and path tokens stay out). The handler runs inside
 * the span, so the statements it makes are its children. Registered only when
 * tracing is on: without it the request path has no hook here at all.
 * Incoming `traceparent` headers are not honoured: a client does not choose
 * where our spans hang.
 */
export function registerTracing(app: FastifyInstance, tracing: Tracing): void {
  // Registered before the routes: each template the router serves is one the span filter lets out.
  app.addHook('onRoute', (route) => tracing.allowRoute(route.url));
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    // An unrouted request is named by its method alone: its path is whatever the client sent.
    spans.set(request, tracing.start(route ? `${request.method} ${route}` : request.method, SpanKind.SERVER, {
      'http.request.method': request.method,
      ...(route ? { 'http.route': route } : {}),
    }));
    done();
  });
  // preHandler runs after body parsing, and the handler is called synchronously from `done`, inside the scope.
  app.addHook('preHandler', (request, _reply, done) => {
    const span = spans.get(request);
    if (span) tracing.within(span, done);
    else done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const span = spans.get(request);
    if (span) {
      const tenantId = request.principal?.tenantId;
      if (tenantId) span.setAttribute('ocsuite.tenant_id', tenantId);
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) tracing.fail(span, request.problemCode ?? 'internal');
      else if (reply.statusCode >= 400 && request.problemCode) span.setAttribute('error.type', request.problemCode);
      span.end();
      spans.delete(request);
    }
    done();
  });
}

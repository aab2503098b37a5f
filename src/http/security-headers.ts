import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * Helmet's security headers on every answer that goes through the routing (404s included), as
 * @fastify/helmet set them — but with the middleware built once: @fastify/helmet calls
 * helmet(options) on every request, rebuilding each header from the options (~5 % of a request
 * on PostgreSQL, issue #21 §2), and adds an async hook for a reply decorator we never use.
 * The headers and their values are helmet's own, from the same options.
 */
export function registerSecurityHeaders(app: FastifyInstance, options: HelmetOptions): void {
  const middleware = helmet(options);
  app.addHook('onRequest', (request, reply, done) => {
    middleware(request.raw, reply.raw, (err?: unknown) => done(err as Error | undefined));
  });
}

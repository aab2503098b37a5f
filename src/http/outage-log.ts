import type { FastifyInstance } from 'fastify';
import type { Platform } from '../kernel/platform.ts';

/**
 * One warning when the database becomes unreachable and one line when it answers
 * again (issue #23 §2), instead of an error with a stack for every request in
 * between: those are answered 503 with Retry-After (error-handler.ts) and logged
 * at debug. Recovery needs no restart: the pool opens new connections as soon
 * as the server takes them.
 */
export function reportOutages(app: FastifyInstance, platform: Pick<Platform, 'db' | 'log'>): void {
  const stop = platform.db.availability.listen({
    down: (reason) => platform.log.warn({ reason }, 'database unavailable: answering 503 with Retry-After until it is back'),
    up: (outageMs, failures) => platform.log.info({ outageMs, failures }, 'database reachable again'),
  });
  app.addHook('onClose', (_app, done) => {
    stop();
    done();
  });
}

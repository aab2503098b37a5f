import type { FastifyInstance } from 'fastify';
import { sendProblem } from './error-handler.ts';
import { ProblemError } from './problem.ts';

/**
 * OCSUITE_REQUEST_TIMEOUT_MS also bounds handling a request (issue #23 §2): a
 * request whose handler has not answered when the time is up — a dependency
 * that hangs rather than fails — is answered 503 problem+json with
 * Retry-After, never left to the socket timeout that drops the connection
 * without a response. While the body is still arriving the body deadline
 * (slow-clients.ts) answers 408 instead. Whatever the handler does later is
 * discarded by Fastify (the reply is sent); its transaction ends at the
 * statement timeout.
 */
export function registerRequestDeadline(app: FastifyInstance, requestTimeoutMs: number): void {
  app.addHook('onRequest', (request, reply, done) => {
    const remaining = requestTimeoutMs - (Date.now() - (request.receivedAt || Date.now()));
    const timer = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent || reply.raw.destroyed) return;
      if (!request.raw.complete) return; // still receiving: the body deadline answers 408
      request.log.warn({ route: request.routeOptions.url, timeoutMs: requestTimeoutMs }, 'request not answered within OCSUITE_REQUEST_TIMEOUT_MS; answered 503');
      const problem = new ProblemError('service-unavailable', 503, 'The request took too long to answer; retry later.', { headers: { 'retry-after': '2' } });
      void sendProblem(reply, request, problem);
    }, Math.max(0, remaining));
    // unref: a pending deadline never keeps the process alive.
    timer.unref();
    const clear = () => clearTimeout(timer);
    reply.raw.once('finish', clear);
    reply.raw.once('close', clear);
    done();
  });
}

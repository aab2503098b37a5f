import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { accessLineOf } from './access-log.ts';
import { sendProblem, toProblem } from './error-handler.ts';
import { ProblemError } from './problem.ts';

type Limiter = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * Answers outside any route — unknown paths, and errors raised before routing
 * (bad percent-encoding, an over-long path parameter) — are requests like any
 * other: they draw on their client's rate budget and get an access-log line,
 * so a scanner's 404 flood is throttled and shows up in the evidence.
 */
export function registerNotFound(app: FastifyInstance): void {
  // The global onRequest hooks (rate limit first) and onResponse hooks (access log) run for it too.
  app.setNotFoundHandler((request, reply) => sendProblem(reply, request, new ProblemError('not-found', 404, 'No such route.')));
}

/**
 * Fastify's `frameworkErrors`: no route matched, so no route hooks run. The
 * request id header, the rate limit and the access-log line are applied here;
 * the app is read lazily because this handler is passed to Fastify's constructor.
 */
export function answerBeforeRouting(getApp: () => FastifyInstance) {
  let limiter: Limiter | undefined;
  return async (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const app = getApp();
    reply.header('x-request-id', request.id);
    let problem = toProblem(err);
    try {
      limiter ??= app.rateLimit() as Limiter;
      await limiter(request, reply);
    } catch (refused) {
      problem = toProblem(refused as FastifyError);
    }
    reply.raw.once('finish', () => app.accessLog?.push(accessLineOf(request, reply.statusCode, reply.elapsedTime)));
    return sendProblem(reply, request, problem);
  };
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import { notFound, ProblemError } from '../../http/problem.ts';
import { auditRequestOf } from '../../kernel/audit/events.ts';
import { discardDeadLetter, listDeadLetters, retryDeadLetter, type Actor, type OperationDeps } from '../../jobs/operations.ts';
import type { Platform } from '../../kernel/platform.ts';
import * as S from './schemas.ts';

const queueUnknown = (queue: string) =>
  new ProblemError('conflict', 409, `The queue ${queue} is not defined in this version of the platform; the dead letter stays (discard it, or retry after a deploy that defines the queue).`);

/**
 * Dead letters and queues (issue #6). Two audiences:
 * - tenant admins and owners (`jobs:manage`) see, retry and discard their own
 *   tenant's dead letters; RLS scopes every statement, so another tenant's id
 *   answers 404 exactly like a missing one;
 * - platform operators (the operator token) see every tenant's and the
 *   platform's dead letters and the queues' state.
 * A retry into a full queue answers 503 with Retry-After (QueueFullError).
 */
export const jobsRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const deps: OperationDeps = { db: platform.db, jobs: platform.jobs, statementTimeoutMs: platform.config.statementTimeoutMs };
  const tags = ['jobs'];
  const tenantActor = (req: Parameters<typeof principalOf>[0]): Actor => {
    const p = principalOf(req);
    return { kind: 'tenant', tenantId: p.tenantId, userId: p.userId ?? undefined, keyId: p.keyId ?? undefined, request: auditRequestOf(req) };
  };
  const operatorActor = (req: Parameters<typeof auditRequestOf>[0]): Actor => ({ kind: 'operator', name: 'operator-token', request: auditRequestOf(req) });
  const strip = <T extends { tenantId: unknown; claimedTenantId: unknown }>({ tenantId: _t, claimedTenantId: _c, ...rest }: T) => rest;

  app.get('/jobs/dead-letters', {
    config: { security: { policy: { permission: 'jobs:manage' } } },
    schema: { tags, operationId: 'jobsListDeadLetters', summary: 'List the tenant\'s dead letters, a page at a time', querystring: S.ListQuery, response: { 200: S.DeadLetterList } },
  }, async (req) => {
    const { items, nextCursor } = await listDeadLetters(deps, tenantActor(req), { status: req.query.status, queue: req.query.queue, limit: req.query.limit ?? 50, cursor: req.query.cursor });
    return { items: items.map(strip), nextCursor };
  });

  app.post('/jobs/dead-letters/:id/retry', {
    config: { security: { policy: { permission: 'jobs:manage' } }, problems: [404, 409] },
    schema: { tags, operationId: 'jobsRetryDeadLetter', summary: 'Put a dead letter back on its queue', params: S.DeadLetterParams, response: { 202: S.Retried } },
  }, async (req, reply) => {
    const r = await retryDeadLetter(deps, tenantActor(req), req.params.id);
    if (r.outcome === 'not-found') throw notFound('dead letter awaiting a retry');
    if (r.outcome === 'queue-unknown') throw queueUnknown(r.queue);
    return reply.code(202).send({ id: r.deadLetter.id, status: 'retried' as const, jobId: r.jobId });
  });

  app.post('/jobs/dead-letters/:id/discard', {
    config: { security: { policy: { permission: 'jobs:manage' } }, problems: [404] },
    schema: { tags, operationId: 'jobsDiscardDeadLetter', summary: 'Discard a dead letter', params: S.DeadLetterParams, response: { 200: S.DeadLetter } },
  }, async (req) => {
    const dl = await discardDeadLetter(deps, tenantActor(req), req.params.id);
    if (!dl) throw notFound('dead letter awaiting a decision');
    return strip(dl);
  });

  app.get('/operator/jobs/dead-letters', {
    config: { security: { policy: 'operator' } },
    schema: { tags, operationId: 'jobsOperatorListDeadLetters', summary: 'List every tenant\'s and the platform\'s dead letters, a page at a time (operator)', querystring: S.OperatorListQuery, response: { 200: S.OperatorDeadLetterList } },
  }, async (req) =>
    listDeadLetters(deps, operatorActor(req), { status: req.query.status, queue: req.query.queue, tenantId: req.query.tenant, limit: req.query.limit ?? 100, cursor: req.query.cursor }));

  app.post('/operator/jobs/dead-letters/:id/retry', {
    config: { security: { policy: 'operator' }, problems: [404, 409] },
    schema: { tags, operationId: 'jobsOperatorRetryDeadLetter', summary: 'Put any dead letter back on its queue (operator)', params: S.DeadLetterParams, response: { 202: S.Retried } },
  }, async (req, reply) => {
    const r = await retryDeadLetter(deps, operatorActor(req), req.params.id);
    if (r.outcome === 'not-found') throw notFound('dead letter awaiting a retry');
    if (r.outcome === 'queue-unknown') throw queueUnknown(r.queue);
    return reply.code(202).send({ id: r.deadLetter.id, status: 'retried' as const, jobId: r.jobId });
  });

  app.post('/operator/jobs/dead-letters/:id/discard', {
    config: { security: { policy: 'operator' }, problems: [404] },
    schema: { tags, operationId: 'jobsOperatorDiscardDeadLetter', summary: 'Discard any dead letter (operator)', params: S.DeadLetterParams, response: { 200: S.OperatorDeadLetter } },
  }, async (req) => {
    const dl = await discardDeadLetter(deps, operatorActor(req), req.params.id);
    if (!dl) throw notFound('dead letter awaiting a decision');
    return dl;
  });

  app.get('/operator/jobs/queues', {
    config: { security: { policy: 'operator' } },
    schema: { tags, operationId: 'jobsOperatorListQueues', summary: 'Queues with their depth and counts (operator)', response: { 200: S.QueueOverview } },
  }, async () => ({
    driver: platform.jobs.driver,
    queues: await Promise.all(platform.jobs.definitions().map(async (d) => ({
      name: d.name, scope: d.scope, maxDepth: d.maxDepth ?? null, ...(await platform.jobs.counts(d.name)),
    }))),
  }));
};

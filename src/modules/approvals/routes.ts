import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createInsightsService } from './insights.ts';
import * as S from './schemas.ts';
import { createApprovalsService } from './service.ts';

/** Insights (model answers over tenant knowledge) and the ActionApproval workflow. */
export const approvalsRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const approvals = createApprovalsService(platform);
  const insights = createInsightsService(platform);

  app.post('/insights', {
    config: { security: { policy: { permission: 'insights:generate' } }, problems: [404, 413, 502] },
    schema: { tags: ['insights'], operationId: 'approvalsCreateInsight', summary: 'Ask the model about knowledge entries; proposed actions become pending approvals', body: S.CreateInsight, response: { 201: S.Insight } },
  }, async (req, reply) => reply.code(201).send(await insights.generate(principalOf(req), req.body)));

  app.get('/insights', {
    config: { security: { policy: { permission: 'insights:read' } } },
    schema: { tags: ['insights'], operationId: 'approvalsListInsights', summary: 'Past insights, newest first (text when the tenant stores outputs)', querystring: S.InsightListQuery, response: { 200: S.InsightPage } },
  }, async (req) => insights.list(principalOf(req), req.query));

  const tags = ['approvals'];
  app.get('/approvals/actions', {
    config: { security: { policy: { permission: 'approvals:read' } } },
    schema: { tags, operationId: 'approvalsListActions', summary: 'The actions modules registered for approval, with the permission each needs', response: { 200: S.ActionList } },
  }, async () => ({ items: platform.actions.list().map((a) => ({ type: a.type, description: a.description, permission: a.permission })) }));

  app.get('/approvals', {
    config: { security: { policy: { permission: 'approvals:read' } } },
    schema: { tags, operationId: 'approvalsList', summary: 'Action approvals, newest first, by status', querystring: S.ApprovalListQuery, response: { 200: S.ApprovalPage } },
  }, async (req) => approvals.list(principalOf(req), req.query));

  app.post('/approvals', {
    config: { security: { policy: { permission: 'approvals:request' } }, problems: [] },
    schema: { tags, operationId: 'approvalsRequest', summary: 'Propose a registered action; it runs only once approved', body: S.RequestApproval, response: { 201: S.Approval } },
  }, async (req, reply) => reply.code(201).send(await approvals.propose(principalOf(req), { type: req.body.actionType, payload: req.body.payload, origin: 'user' })));

  app.get('/approvals/:id', {
    config: { security: { policy: { permission: 'approvals:read' } }, problems: [404] },
    schema: { tags, operationId: 'approvalsGet', summary: 'One action approval', params: S.IdParams, response: { 200: S.Approval } },
  }, async (req) => approvals.get(principalOf(req), req.params.id));

  app.post('/approvals/:id/approve', {
    config: { security: { policy: { permission: 'approvals:decide' } }, problems: [404, 409] },
    schema: { tags, operationId: 'approvalsApprove', summary: 'Approve and execute (needs the action\'s permission; high risk: not the requester)', params: S.IdParams, body: S.Decision, response: { 200: S.Approval } },
  }, async (req) => approvals.approve(principalOf(req), req.params.id, req.body?.note));

  app.post('/approvals/:id/reject', {
    config: { security: { policy: { permission: 'approvals:decide' } }, problems: [404, 409] },
    schema: { tags, operationId: 'approvalsReject', summary: 'Reject a pending approval (the requester may withdraw their own)', params: S.IdParams, body: S.Decision, response: { 200: S.Approval } },
  }, async (req) => approvals.reject(principalOf(req), req.params.id, req.body?.note));
};

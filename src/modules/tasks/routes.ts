import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import * as S from './schemas.ts';
import { createTasksService } from './service.ts';

/**
 * Admin tasks: managers create and assign, assignees complete, a second person
 * verifies. Every task in a response lists the caller's `capabilities`; the
 * actions below refuse whatever is not among them.
 */
export const tasksRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const tasks = createTasksService(platform);
  const tags = ['tasks'];
  const params = S.TaskParams;
  const response = { 200: S.Task };

  app.get('', {
    config: { security: { policy: { permission: 'tasks:read' } } },
    schema: { tags, operationId: 'tasksList', summary: 'Tasks of the tenant, newest first, each with the caller\'s capabilities', querystring: S.ListQuery, response: { 200: S.TaskPage } },
  }, async (req) => tasks.list(principalOf(req), req.query));

  app.post('', {
    config: { security: { policy: { permission: 'tasks:manage' } } },
    schema: { tags, operationId: 'tasksCreate', summary: 'Create a task assigned to a member of the tenant', body: S.CreateTask, response: { 201: S.Task } },
  }, async (req, reply) => reply.code(201).send(await tasks.create(principalOf(req), req.body)));

  app.get('/:id', {
    config: { security: { policy: { permission: 'tasks:read' } }, problems: [404] },
    schema: { tags, operationId: 'tasksGet', summary: 'One task with the caller\'s capabilities', params, response },
  }, async (req) => tasks.get(principalOf(req), req.params.id));

  app.patch('/:id', {
    config: { security: { policy: { permission: 'tasks:manage' } }, problems: [404, 409] },
    schema: { tags, operationId: 'tasksUpdate', summary: 'Edit or reassign an open task', params, body: S.UpdateTask, response },
  }, async (req) => tasks.update(principalOf(req), req.params.id, req.body));

  app.post('/:id/complete', {
    config: { security: { policy: { permission: 'tasks:work' } }, problems: [404, 409] },
    schema: { tags, operationId: 'tasksComplete', summary: 'Mark one\'s own open task completed, awaiting verification', params, body: S.CompleteTask, response },
  }, async (req) => tasks.complete(principalOf(req), req.params.id, req.body?.note));

  app.post('/:id/verify', {
    config: { security: { policy: { permission: 'tasks:verify' } }, problems: [404, 409] },
    schema: { tags, operationId: 'tasksVerify', summary: 'Verify a task someone else completed (four-eyes)', params, response },
  }, async (req) => tasks.verify(principalOf(req), req.params.id));

  app.post('/:id/reject', {
    config: { security: { policy: { permission: 'tasks:verify' } }, problems: [404, 409] },
    schema: { tags, operationId: 'tasksReject', summary: 'Send a completed task back to its assignee, with a reason', params, body: S.RejectTask, response },
  }, async (req) => tasks.reject(principalOf(req), req.params.id, req.body.reason));

  app.post('/:id/cancel', {
    config: { security: { policy: { permission: 'tasks:manage' } }, problems: [404, 409] },
    schema: { tags, operationId: 'tasksCancel', summary: 'Cancel a task that is not verified yet', params, response },
  }, async (req) => tasks.cancel(principalOf(req), req.params.id));
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import * as S from './schemas.ts';
import { createKnowledgeService } from './service.ts';

/** Knowledge entries: viewers read, members write, admins delete. */
export const knowledgeRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const knowledge = createKnowledgeService(platform);
  const tags = ['knowledge'];

  app.get('/knowledge', {
    config: { security: { policy: { permission: 'knowledge:read' } } },
    schema: { tags, operationId: 'knowledgeListEntries', summary: 'List knowledge entries (keyset pages, filter by tag or text)', querystring: S.ListQuery, response: { 200: S.EntryPage } },
  }, async (req) => knowledge.list(principalOf(req), req.query));

  app.post('/knowledge', {
    config: { security: { policy: { permission: 'knowledge:write' } }, problems: [409] },
    schema: { tags, operationId: 'knowledgeCreateEntry', summary: 'Create a knowledge entry', body: S.CreateEntry, response: { 201: S.Entry } },
  }, async (req, reply) => reply.code(201).send(await knowledge.create(principalOf(req), req.body)));

  app.get('/knowledge/:id', {
    config: { security: { policy: { permission: 'knowledge:read' } }, problems: [404] },
    schema: { tags, operationId: 'knowledgeGetEntry', summary: 'One knowledge entry', params: S.EntryParams, response: { 200: S.Entry } },
  }, async (req) => knowledge.get(principalOf(req), req.params.id));

  app.patch('/knowledge/:id', {
    config: { security: { policy: { permission: 'knowledge:write' } }, problems: [404, 409] },
    schema: { tags, operationId: 'knowledgeUpdateEntry', summary: 'Change a knowledge entry', params: S.EntryParams, body: S.UpdateEntry, response: { 200: S.Entry } },
  }, async (req) => knowledge.update(principalOf(req), req.params.id, req.body));

  app.delete('/knowledge/:id', {
    config: { security: { policy: { permission: 'knowledge:delete' } }, problems: [404] },
    schema: { tags, operationId: 'knowledgeDeleteEntry', summary: 'Delete a knowledge entry', params: S.EntryParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await knowledge.remove(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import * as S from './schemas.ts';
import { createConnectorsService } from './service.ts';

/**
 * Connectors: admins store third-party credentials. The secret goes in and
 * never comes out: responses carry a fingerprint and the last four
 * characters; only the worker path (secret-use.ts) opens it.
 */
export const connectorsRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const connectors = createConnectorsService(platform);
  const tags = ['connectors'];

  app.get('/connectors', {
    config: { security: { policy: { permission: 'connectors:read' } } },
    schema: { tags, operationId: 'connectorsList', summary: 'List connectors (secrets shown only as fingerprint and last four characters)', querystring: S.ConnectorListQuery, response: { 200: S.ConnectorList } },
  }, async (req) => connectors.list(principalOf(req), req.query));

  app.post('/connectors', {
    config: { security: { policy: { permission: 'connectors:manage' } }, problems: [409] },
    schema: { tags, operationId: 'connectorsCreate', summary: 'Store a connector and its sealed secret', body: S.CreateConnector, response: { 201: S.Connector } },
  }, async (req, reply) => reply.code(201).send(await connectors.create(principalOf(req), req.body)));

  app.patch('/connectors/:id', {
    config: { security: { policy: { permission: 'connectors:manage' } }, problems: [404, 409] },
    schema: { tags, operationId: 'connectorsUpdate', summary: 'Change a connector or replace its secret', params: S.ConnectorParams, body: S.UpdateConnector, response: { 200: S.Connector } },
  }, async (req) => connectors.update(principalOf(req), req.params.id, req.body));

  app.delete('/connectors/:id', {
    config: { security: { policy: { permission: 'connectors:manage' } }, problems: [404] },
    schema: { tags, operationId: 'connectorsDelete', summary: 'Delete a connector and its secret', params: S.ConnectorParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await connectors.remove(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });
};

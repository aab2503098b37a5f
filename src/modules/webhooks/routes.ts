import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createEndpointsService } from './endpoints-service.ts';
import { eventTypesFor } from './event-catalogue.ts';
import { createMessagesService } from './messages-service.ts';
import { createReceiversService } from './receivers-service.ts';
import * as S from './schemas.ts';

const read = { security: { policy: { permission: 'webhooks:read' } } } as const;
const manage = { security: { policy: { permission: 'webhooks:manage' } } } as const;

/**
 * /api/v1/webhooks: outbound endpoints, their messages and deliveries, and the
 * inbound receivers. Reading needs webhooks:read, every change webhooks:manage;
 * subscribing to an event type also needs that type's permission.
 */
export const webhooksRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const endpoints = createEndpointsService(platform);
  const messages = createMessagesService(platform);
  const receivers = createReceiversService(platform);
  const tags = ['webhooks'];

  app.get('/event-types', {
    config: read,
    schema: { tags, operationId: 'webhooksListEventTypes', summary: 'Event types endpoints can subscribe to, and whether the caller may', response: { 200: S.EventTypeList } },
  }, async (req) => eventTypesFor(platform, principalOf(req)));

  // ── endpoints ──
  app.get('/endpoints', {
    config: read,
    schema: { tags, operationId: 'webhooksListEndpoints', summary: 'Outbound endpoints of the tenant', querystring: S.ListQuery, response: { 200: S.EndpointList } },
  }, async (req) => endpoints.list(principalOf(req), req.query));

  app.post('/endpoints', {
    config: { ...manage, problems: [403] },
    schema: { tags, operationId: 'webhooksCreateEndpoint', summary: 'Register an endpoint; its signing secret is shown once', body: S.CreateEndpoint, response: { 201: S.EndpointWithSecret } },
  }, async (req, reply) => reply.code(201).send(await endpoints.create(principalOf(req), req.body)));

  app.get('/endpoints/:id', {
    config: { ...read, problems: [404] },
    schema: { tags, operationId: 'webhooksGetEndpoint', summary: 'One endpoint', params: S.IdParams, response: { 200: S.Endpoint } },
  }, async (req) => endpoints.get(principalOf(req), req.params.id));

  app.patch('/endpoints/:id', {
    config: { ...manage, problems: [403, 404] },
    schema: { tags, operationId: 'webhooksUpdateEndpoint', summary: 'Change an endpoint, or disable / re-enable it', params: S.IdParams, body: S.UpdateEndpoint, response: { 200: S.Endpoint } },
  }, async (req) => endpoints.update(principalOf(req), req.params.id, req.body));

  app.delete('/endpoints/:id', {
    config: { ...manage, problems: [404] },
    schema: { tags, operationId: 'webhooksDeleteEndpoint', summary: 'Delete an endpoint and its delivery log', params: S.IdParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await endpoints.remove(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.post('/endpoints/:id/rotate-secret', {
    config: { ...manage, problems: [404] },
    schema: {
      tags, operationId: 'webhooksRotateEndpointSecret', summary: 'New signing secret (shown once); the old one signs too during the overlap',
      params: S.IdParams, body: S.RotateSecret, response: { 200: S.EndpointWithSecret },
    },
  }, async (req) => endpoints.rotateSecret(principalOf(req), req.params.id, req.body.overlapSeconds ?? 86_400));

  app.post('/endpoints/:id/test', {
    config: { ...manage, problems: [404, 409] },
    schema: { tags, operationId: 'webhooksSendTestMessage', summary: 'Send a webhooks.test message to this endpoint', params: S.IdParams, response: { 202: S.TestSent } },
  }, async (req, reply) => reply.code(202).send(await messages.sendTest(principalOf(req), req.params.id)));

  // ── messages ──
  app.get('/messages', {
    config: read,
    schema: { tags, operationId: 'webhooksListMessages', summary: 'Messages published for the tenant, newest first', querystring: S.MessageListQuery, response: { 200: S.MessageList } },
  }, async (req) => messages.listMessages(principalOf(req), req.query));

  app.get('/messages/:id', {
    config: { ...read, problems: [404] },
    schema: { tags, operationId: 'webhooksGetMessage', summary: 'One message with its payload', params: S.IdParams, response: { 200: S.Message } },
  }, async (req) => messages.getMessage(principalOf(req), req.params.id));

  app.post('/messages/:id/replay', {
    config: { ...manage, problems: [404, 409] },
    schema: { tags, operationId: 'webhooksReplayMessage', summary: 'Deliver one message again', params: S.IdParams, body: S.ReplayOne, response: { 202: S.Replayed } },
  }, async (req, reply) => reply.code(202).send(await messages.replay(principalOf(req), { messageId: req.params.id, endpointId: req.body.endpointId })));

  app.post('/messages/replay', {
    config: { ...manage, problems: [404, 409] },
    schema: { tags, operationId: 'webhooksReplaySince', summary: 'Deliver again every message since a time (at most 1000 a call)', body: S.ReplaySince, response: { 202: S.Replayed } },
  }, async (req, reply) => reply.code(202).send(await messages.replay(principalOf(req), { since: req.body.since, endpointId: req.body.endpointId })));

  // ── deliveries ──
  app.get('/deliveries', {
    config: read,
    schema: { tags, operationId: 'webhooksListDeliveries', summary: 'Deliveries, newest first: pending, succeeded or dead', querystring: S.DeliveryListQuery, response: { 200: S.DeliveryList } },
  }, async (req) => messages.listDeliveries(principalOf(req), req.query));

  app.get('/deliveries/:id', {
    config: { ...read, problems: [404] },
    schema: { tags, operationId: 'webhooksGetDelivery', summary: 'One delivery with every attempt (status, latency, response excerpt)', params: S.IdParams, response: { 200: S.DeliveryDetail } },
  }, async (req) => messages.getDelivery(principalOf(req), req.params.id));

  // ── inbound receivers ──
  app.get('/inbound', {
    config: read,
    schema: { tags, operationId: 'webhooksListReceivers', summary: 'Inbound receivers of the tenant', querystring: S.ListQuery, response: { 200: S.ReceiverList } },
  }, async (req) => receivers.list(principalOf(req), req.query));

  app.post('/inbound', {
    config: manage,
    schema: { tags, operationId: 'webhooksCreateReceiver', summary: 'Create an inbound receiver; its secret is shown once', body: S.CreateReceiver, response: { 201: S.ReceiverWithSecret } },
  }, async (req, reply) => reply.code(201).send(await receivers.create(principalOf(req), req.body)));

  app.get('/inbound/:id', {
    config: { ...read, problems: [404] },
    schema: { tags, operationId: 'webhooksGetReceiver', summary: 'One inbound receiver', params: S.IdParams, response: { 200: S.Receiver } },
  }, async (req) => receivers.get(principalOf(req), req.params.id));

  app.patch('/inbound/:id', {
    config: { ...manage, problems: [404] },
    schema: { tags, operationId: 'webhooksUpdateReceiver', summary: 'Change a receiver: allowlist, body cap, event types, enabled', params: S.IdParams, body: S.UpdateReceiver, response: { 200: S.Receiver } },
  }, async (req) => receivers.update(principalOf(req), req.params.id, req.body));

  app.delete('/inbound/:id', {
    config: { ...manage, problems: [404] },
    schema: { tags, operationId: 'webhooksDeleteReceiver', summary: 'Delete a receiver and the events it accepted', params: S.IdParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await receivers.remove(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.post('/inbound/:id/rotate-secret', {
    config: { ...manage, problems: [404] },
    schema: {
      tags, operationId: 'webhooksRotateReceiverSecret', summary: 'New receiver secret (shown once); the old one verifies too during the overlap',
      params: S.IdParams, body: S.RotateSecret, response: { 200: S.ReceiverWithSecret },
    },
  }, async (req) => receivers.rotateSecret(principalOf(req), req.params.id, req.body.overlapSeconds ?? 86_400));

  app.get('/inbound/:id/events', {
    config: { ...read, problems: [404] },
    schema: { tags, operationId: 'webhooksListInboundEvents', summary: 'Events a receiver accepted, newest first', params: S.IdParams, querystring: S.ListQuery, response: { 200: S.InboundEventList } },
  }, async (req) => receivers.events(principalOf(req), req.params.id, req.query));
};

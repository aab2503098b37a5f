import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createChat } from './chat.ts';
import * as S from './schemas.ts';
import { socketRoutes } from './socket-route.ts';

/**
 * Chat under /api/v1/chat: rooms, members, messages, read markers, reports and
 * moderation, room exports, socket tickets and the socket itself.
 */
export const chatRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const chat = createChat(platform);
  app.addHook('onClose', async () => chat.close());
  const tags = ['chat'];

  app.get('/rooms', {
    config: { security: { policy: { permission: 'chat:read' } } },
    schema: { tags, operationId: 'chatListRooms', summary: 'Rooms the caller can read', querystring: S.PageQuery, response: { 200: S.RoomPage } },
  }, async (req) => chat.rooms.listRooms(principalOf(req), req.query));

  app.post('/rooms', {
    config: { security: { policy: { permission: 'chat:write' } }, problems: [404] },
    schema: { tags, operationId: 'chatCreateRoom', summary: 'Create a public, private or direct room', body: S.CreateRoom, response: { 201: S.Room } },
  }, async (req, reply) => reply.code(201).send(await chat.rooms.createRoom(principalOf(req), req.body)));

  app.get('/rooms/:id', {
    config: { security: { policy: { permission: 'chat:read' } }, problems: [404] },
    schema: { tags, operationId: 'chatGetRoom', summary: 'One room', params: S.RoomParams, response: { 200: S.Room } },
  }, async (req) => chat.rooms.getRoom(principalOf(req), req.params.id));

  app.get('/rooms/:id/members', {
    config: { security: { policy: { permission: 'chat:read' } }, problems: [404] },
    schema: { tags, operationId: 'chatListMembers', summary: 'Members of a room', params: S.RoomParams, response: { 200: S.MemberList } },
  }, async (req) => chat.rooms.listMembers(principalOf(req), req.params.id));

  app.post('/rooms/:id/members', {
    config: { security: { policy: { permission: 'chat:write' } }, problems: [404, 409] },
    schema: { tags, operationId: 'chatAddMember', summary: 'Add a member to a private room', params: S.RoomParams, body: S.AddMember, response: { 201: S.Member } },
  }, async (req, reply) => reply.code(201).send(await chat.rooms.addMember(principalOf(req), req.params.id, req.body.userId)));

  app.delete('/rooms/:id/members/:userId', {
    config: { security: { policy: { permission: 'chat:read' } }, problems: [404] },
    schema: { tags, operationId: 'chatRemoveMember', summary: 'Leave a room or remove a member', params: S.MemberParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await chat.rooms.removeMember(principalOf(req), req.params.id, req.params.userId);
    return reply.code(204).send(null);
  });

  app.get('/rooms/:id/messages', {
    config: { security: { policy: { permission: 'chat:read' } }, problems: [404] },
    schema: { tags, operationId: 'chatListMessages', summary: 'Room history, newest first', params: S.RoomParams, querystring: S.PageQuery, response: { 200: S.MessagePage } },
  }, async (req) => chat.rooms.history(principalOf(req), req.params.id, req.query));

  app.post('/rooms/:id/messages', {
    config: { security: { policy: { permission: 'chat:write' } }, problems: [404, 413] },
    schema: { tags, operationId: 'chatPostMessage', summary: 'Post a message', params: S.RoomParams, body: S.PostMessage, response: { 201: S.Message } },
  }, async (req, reply) => reply.code(201).send(await chat.post(principalOf(req), req.params.id, req.body.text)));

  app.post('/rooms/:id/read', {
    config: { security: { policy: { permission: 'chat:read' } }, problems: [404] },
    schema: { tags, operationId: 'chatMarkRead', summary: 'Set the read marker', params: S.RoomParams, body: S.ReadMarker, response: { 200: S.ReadMarkerSet } },
  }, async (req) => chat.rooms.markRead(principalOf(req), req.params.id, req.body.messageId));

  app.patch('/messages/:id', {
    config: { security: { policy: { permission: 'chat:write' } }, problems: [404, 409, 413] },
    schema: { tags, operationId: 'chatEditMessage', summary: 'Edit one of your messages', params: S.MessageParams, body: S.EditMessage, response: { 200: S.Message } },
  }, async (req) => chat.rooms.edit(principalOf(req), req.params.id, req.body.text));

  app.delete('/messages/:id', {
    config: { security: { policy: { permission: 'chat:write' } }, problems: [404] },
    schema: { tags, operationId: 'chatDeleteOwnMessage', summary: 'Delete one of your messages', params: S.MessageParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await chat.rooms.removeOwn(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.post('/messages/:id/reports', {
    config: { security: { policy: { permission: 'chat:read' } }, problems: [404, 409] },
    schema: { tags, operationId: 'chatReportMessage', summary: 'Report a message to moderators', params: S.MessageParams, body: S.ReportMessage, response: { 201: S.ReportCreated } },
  }, async (req, reply) => reply.code(201).send(await chat.moderation.report(principalOf(req), req.params.id, req.body.reason)));

  app.get('/reports', {
    config: { security: { policy: { permission: 'chat:moderate' } } },
    schema: { tags, operationId: 'chatListReports', summary: "Reports of the tenant's messages", querystring: S.PageQuery, response: { 200: S.ReportPage } },
  }, async (req) => chat.moderation.reports(principalOf(req), req.query));

  app.post('/messages/:id/hide', {
    config: { security: { policy: { permission: 'chat:moderate' } }, problems: [404] },
    schema: { tags, operationId: 'chatHideMessage', summary: 'Hide a message (moderation)', params: S.MessageParams, body: S.Moderate, response: { 200: S.Moderated } },
  }, async (req) => chat.moderation.hide(principalOf(req), req.params.id, req.body.reason));

  app.post('/messages/:id/delete', {
    config: { security: { policy: { permission: 'chat:moderate' } }, problems: [404] },
    schema: { tags, operationId: 'chatModerateDelete', summary: 'Delete a message (moderation)', params: S.MessageParams, body: S.Moderate, response: { 200: S.Moderated } },
  }, async (req) => chat.moderation.delete(principalOf(req), req.params.id, req.body.reason));

  app.post('/rooms/:id/mutes', {
    config: { security: { policy: { permission: 'chat:moderate' } }, problems: [404, 409] },
    schema: { tags, operationId: 'chatMuteUser', summary: 'Mute a member for a time', params: S.RoomParams, body: S.Mute, response: { 201: S.Sanction } },
  }, async (req, reply) => reply.code(201).send(await chat.moderation.mute(principalOf(req), req.params.id, req.body)));

  app.post('/rooms/:id/bans', {
    config: { security: { policy: { permission: 'chat:moderate' } }, problems: [404, 409] },
    schema: { tags, operationId: 'chatBanUser', summary: 'Ban a member from a room or the tenant chat', params: S.RoomParams, body: S.Ban, response: { 201: S.Sanction } },
  }, async (req, reply) => reply.code(201).send(await chat.moderation.ban(principalOf(req), req.params.id, req.body)));

  app.get('/rooms/:id/export', {
    config: { security: { policy: { permission: 'chat:export' }, stepUp: true, rateClass: 'export' }, problems: [404] },
    schema: { tags, operationId: 'chatExportRoom', summary: "Export a room's history", params: S.RoomParams, querystring: S.ExportQuery, response: { 200: S.RoomExport } },
  }, async (req) => chat.exports.room(principalOf(req), req.params.id, req.query));

  app.post('/tickets', {
    config: { security: { policy: { permission: 'chat:read' } } },
    schema: { tags, operationId: 'chatIssueTicket', summary: 'A one-time ticket for the socket', response: { 201: S.Ticket } },
  }, async (req, reply) => reply.code(201).send(await chat.tickets.issue(principalOf(req))));

  await app.register(socketRoutes, { chat });
};

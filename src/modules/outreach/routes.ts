import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import * as S from './schemas.ts';
import { outreachServiceOf } from './service.ts';

/**
 * Outreach under /api/v1/outreach: contacts and consent, the suppression list,
 * the tenant's settings, campaigns and their sends. Readers need
 * outreach:read, writers outreach:write, sending outreach:send, and the
 * settings, erasure and lifting a manual suppression outreach:manage.
 */
export const outreachRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const outreach = outreachServiceOf(platform);
  const tags = ['outreach'];

  // ─── Contacts ─────────────────────────────────────────────────────────────
  app.get('/contacts', {
    config: { security: { policy: { permission: 'outreach:read' } } },
    schema: { tags, operationId: 'outreachListContacts', summary: 'Contacts with their consent record, newest first', querystring: S.ContactQuery, response: { 200: S.ContactPage } },
  }, async (req) => outreach.contacts.list(principalOf(req), req.query));

  app.post('/contacts', {
    config: { security: { policy: { permission: 'outreach:write' } }, problems: [409, 503] },
    schema: { tags, operationId: 'outreachCreateContact', summary: 'Add a contact with its source, lawful basis and consent (double opt-in when the tenant asks)', body: S.CreateContact, response: { 201: S.Contact } },
  }, async (req, reply) => reply.code(201).send(await outreach.contacts.create(principalOf(req), req.body)));

  app.get('/contacts/:id', {
    config: { security: { policy: { permission: 'outreach:read' } }, problems: [404] },
    schema: { tags, operationId: 'outreachGetContact', summary: 'One contact', params: S.IdParams, response: { 200: S.Contact } },
  }, async (req) => outreach.contacts.get(principalOf(req), req.params.id));

  app.patch('/contacts/:id', {
    config: { security: { policy: { permission: 'outreach:write' } }, problems: [404] },
    schema: { tags, operationId: 'outreachUpdateContact', summary: 'Rename a contact (consent is changed only by the person)', params: S.IdParams, body: S.UpdateContact, response: { 200: S.Contact } },
  }, async (req) => outreach.contacts.update(principalOf(req), req.params.id, req.body));

  app.delete('/contacts/:id', {
    config: { security: { policy: { permission: 'outreach:manage' } }, problems: [404] },
    schema: { tags, operationId: 'outreachEraseContact', summary: 'Erase a contact; a hashed suppression entry keeps them from being mailed again', params: S.IdParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await outreach.contacts.erase(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  // ─── Suppressions ─────────────────────────────────────────────────────────
  app.get('/suppressions', {
    config: { security: { policy: { permission: 'outreach:read' } } },
    schema: { tags, operationId: 'outreachListSuppressions', summary: 'Addresses that are never mailed, newest first', querystring: S.PageQuery, response: { 200: S.SuppressionPage } },
  }, async (req) => outreach.suppressions.list(principalOf(req), req.query));

  app.post('/suppressions', {
    config: { security: { policy: { permission: 'outreach:write' } } },
    schema: { tags, operationId: 'outreachCreateSuppression', summary: 'Suppress an address (idempotent: an existing entry is kept or strengthened)', body: S.CreateSuppression, response: { 200: S.Suppression, 201: S.Suppression } },
  }, async (req, reply) => {
    const { created, suppression } = await outreach.suppressions.create(principalOf(req), req.body);
    return reply.code(created ? 201 : 200).send(suppression);
  });

  app.delete('/suppressions/:id', {
    config: { security: { policy: { permission: 'outreach:manage' } }, problems: [404, 409] },
    schema: { tags, operationId: 'outreachLiftSuppression', summary: 'Lift a manual suppression (unsubscribes, bounces, complaints and erasures stay)', params: S.IdParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await outreach.suppressions.remove(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  // ─── Settings ─────────────────────────────────────────────────────────────
  app.get('/settings', {
    config: { security: { policy: { permission: 'outreach:read' } } },
    schema: { tags, operationId: 'outreachGetSettings', summary: 'Postal address, double opt-in, send rate and SMTP connector of the tenant', response: { 200: S.Settings } },
  }, async (req) => outreach.settings.get(principalOf(req)));

  app.patch('/settings', {
    config: { security: { policy: { permission: 'outreach:manage' } } },
    schema: { tags, operationId: 'outreachUpdateSettings', summary: 'Change the postal address (CAN-SPAM), double opt-in, send rate or SMTP connector', body: S.UpdateSettings, response: { 200: S.Settings } },
  }, async (req) => outreach.settings.update(principalOf(req), req.body));

  // ─── Campaigns and sends ──────────────────────────────────────────────────
  app.get('/campaigns', {
    config: { security: { policy: { permission: 'outreach:read' } } },
    schema: { tags, operationId: 'outreachListCampaigns', summary: 'Campaigns with their send counts, newest first', querystring: S.PageQuery, response: { 200: S.CampaignPage } },
  }, async (req) => outreach.campaigns.list(principalOf(req), req.query));

  app.post('/campaigns', {
    config: { security: { policy: { permission: 'outreach:write' } } },
    schema: { tags, operationId: 'outreachCreateCampaign', summary: 'Create a draft campaign: subject, text, and every subscribed contact or a list of contacts', body: S.CreateCampaign, response: { 201: S.Campaign } },
  }, async (req, reply) => reply.code(201).send(await outreach.campaigns.create(principalOf(req), req.body)));

  app.get('/campaigns/:id', {
    config: { security: { policy: { permission: 'outreach:read' } }, problems: [404] },
    schema: { tags, operationId: 'outreachGetCampaign', summary: 'One campaign with its send counts', params: S.IdParams, response: { 200: S.Campaign } },
  }, async (req) => outreach.campaigns.get(principalOf(req), req.params.id));

  app.patch('/campaigns/:id', {
    config: { security: { policy: { permission: 'outreach:write' } }, problems: [404, 409] },
    schema: { tags, operationId: 'outreachUpdateCampaign', summary: 'Edit a draft campaign (a new version)', params: S.IdParams, body: S.UpdateCampaign, response: { 200: S.Campaign } },
  }, async (req) => outreach.campaigns.update(principalOf(req), req.params.id, req.body));

  app.post('/campaigns/:id/send', {
    config: { security: { policy: { permission: 'outreach:send' } }, problems: [404, 409, 503] },
    schema: {
      tags, operationId: 'outreachSendCampaign', summary: 'Send a campaign: queues one send per consented, unsuppressed recipient (idempotent)',
      params: S.IdParams, response: { 202: S.Campaign },
    },
  }, async (req, reply) => reply.code(202).send(await outreach.sendCampaign(principalOf(req), req.params.id)));

  app.get('/sends', {
    config: { security: { policy: { permission: 'outreach:read' } } },
    schema: { tags, operationId: 'outreachListSends', summary: 'Sends: one per campaign and recipient, with state and Message-ID', querystring: S.SendQuery, response: { 200: S.SendPage } },
  }, async (req) => outreach.campaigns.listSends(principalOf(req), req.query));

  app.get('/sends/:id', {
    config: { security: { policy: { permission: 'outreach:read' } }, problems: [404] },
    schema: { tags, operationId: 'outreachGetSend', summary: 'One send', params: S.IdParams, response: { 200: S.Send } },
  }, async (req) => outreach.campaigns.getSend(principalOf(req), req.params.id));
};

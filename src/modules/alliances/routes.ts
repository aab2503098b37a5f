import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import * as S from './schemas.ts';
import { createAlliancesService } from './service.ts';

/**
 * Alliances CRM: `alliances:read` sees partners, contacts, pipelines and deals;
 * `alliances:write` changes them and writes notes; a note is read only by its
 * author and by `alliances:manage` holders, who also delete partners and pipelines.
 */
export const alliancesRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const crm = createAlliancesService(platform);
  const tags = ['alliances'];
  const read = { policy: { permission: 'alliances:read' } } as const;
  const write = { policy: { permission: 'alliances:write' } } as const;
  const manage = { policy: { permission: 'alliances:manage' } } as const;
  const noContent = { 204: Type.Null() };

  app.get('/partners', {
    config: { security: read },
    schema: { tags, operationId: 'alliancesListPartners', summary: 'Partners of the tenant, newest first', querystring: S.ListQuery, response: { 200: S.PartnerPage } },
  }, async (req) => crm.listPartners(principalOf(req), req.query));

  app.post('/partners', {
    config: { security: write },
    schema: { tags, operationId: 'alliancesCreatePartner', summary: 'Add a partner', body: S.CreatePartner, response: { 201: S.Partner } },
  }, async (req, reply) => reply.code(201).send(await crm.createPartner(principalOf(req), req.body)));

  app.get('/partners/:id', {
    config: { security: read, problems: [404] },
    schema: { tags, operationId: 'alliancesGetPartner', summary: 'One partner with its contacts', params: S.IdParams, response: { 200: S.PartnerDetail } },
  }, async (req) => crm.getPartner(principalOf(req), req.params.id));

  app.patch('/partners/:id', {
    config: { security: write, problems: [404] },
    schema: { tags, operationId: 'alliancesUpdatePartner', summary: 'Change a partner', params: S.IdParams, body: S.UpdatePartner, response: { 200: S.Partner } },
  }, async (req) => crm.updatePartner(principalOf(req), req.params.id, req.body));

  app.delete('/partners/:id', {
    config: { security: manage, problems: [404] },
    schema: { tags, operationId: 'alliancesDeletePartner', summary: 'Delete a partner with its contacts, deals and notes', params: S.IdParams, response: noContent },
  }, async (req, reply) => {
    await crm.deletePartner(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.post('/partners/:id/contacts', {
    config: { security: write, problems: [404] },
    schema: { tags, operationId: 'alliancesCreateContact', summary: 'Add a contact person to a partner', params: S.IdParams, body: S.CreateContact, response: { 201: S.Contact } },
  }, async (req, reply) => reply.code(201).send(await crm.createContact(principalOf(req), req.params.id, req.body)));

  app.get('/contacts/:id', {
    config: { security: read, problems: [404] },
    schema: { tags, operationId: 'alliancesGetContact', summary: 'One partner contact', params: S.IdParams, response: { 200: S.Contact } },
  }, async (req) => crm.getContact(principalOf(req), req.params.id));

  app.patch('/contacts/:id', {
    config: { security: write, problems: [404] },
    schema: { tags, operationId: 'alliancesUpdateContact', summary: 'Change a partner contact', params: S.IdParams, body: S.UpdateContact, response: { 200: S.Contact } },
  }, async (req) => crm.updateContact(principalOf(req), req.params.id, req.body));

  app.delete('/contacts/:id', {
    config: { security: write, problems: [404] },
    schema: { tags, operationId: 'alliancesDeleteContact', summary: 'Delete a partner contact and the notes about them', params: S.IdParams, response: noContent },
  }, async (req, reply) => {
    await crm.deleteContact(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.get('/pipelines', {
    config: { security: read },
    schema: { tags, operationId: 'alliancesListPipelines', summary: 'Deal pipelines of the tenant', querystring: S.ListQuery, response: { 200: S.PipelinePage } },
  }, async (req) => crm.listPipelines(principalOf(req), req.query));

  app.post('/pipelines', {
    config: { security: write },
    schema: { tags, operationId: 'alliancesCreatePipeline', summary: 'Create a pipeline with its stages', body: S.CreatePipeline, response: { 201: S.Pipeline } },
  }, async (req, reply) => reply.code(201).send(await crm.createPipeline(principalOf(req), req.body)));

  app.get('/pipelines/:id', {
    config: { security: read, problems: [404] },
    schema: { tags, operationId: 'alliancesGetPipeline', summary: 'One pipeline with its deals', params: S.IdParams, response: { 200: S.PipelineDetail } },
  }, async (req) => crm.getPipeline(principalOf(req), req.params.id));

  app.delete('/pipelines/:id', {
    config: { security: manage, problems: [404] },
    schema: { tags, operationId: 'alliancesDeletePipeline', summary: 'Delete a pipeline with its deals', params: S.IdParams, response: noContent },
  }, async (req, reply) => {
    await crm.deletePipeline(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.post('/pipelines/:id/deals', {
    config: { security: write, problems: [404] },
    schema: { tags, operationId: 'alliancesCreateDeal', summary: 'Open a deal with a partner in a pipeline', params: S.IdParams, body: S.CreateDeal, response: { 201: S.Deal } },
  }, async (req, reply) => reply.code(201).send(await crm.createDeal(principalOf(req), req.params.id, req.body)));

  app.get('/deals/:id', {
    config: { security: read, problems: [404] },
    schema: { tags, operationId: 'alliancesGetDeal', summary: 'One deal', params: S.IdParams, response: { 200: S.Deal } },
  }, async (req) => crm.getDeal(principalOf(req), req.params.id));

  app.patch('/deals/:id', {
    config: { security: write, problems: [404] },
    schema: { tags, operationId: 'alliancesUpdateDeal', summary: 'Change a deal or move it to another stage', params: S.IdParams, body: S.UpdateDeal, response: { 200: S.Deal } },
  }, async (req) => crm.updateDeal(principalOf(req), req.params.id, req.body));

  app.delete('/deals/:id', {
    config: { security: write, problems: [404] },
    schema: { tags, operationId: 'alliancesDeleteDeal', summary: 'Delete a deal', params: S.IdParams, response: noContent },
  }, async (req, reply) => {
    await crm.deleteDeal(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.post('/partners/:id/notes', {
    config: { security: write, problems: [404] },
    schema: { tags, operationId: 'alliancesCreateNote', summary: 'Write a note on a partner, visible to its author and alliance managers', params: S.IdParams, body: S.CreateNote, response: { 201: S.Note } },
  }, async (req, reply) => reply.code(201).send(await crm.createNote(principalOf(req), req.params.id, req.body)));

  app.get('/partners/:id/notes', {
    config: { security: read, problems: [404] },
    schema: { tags, operationId: 'alliancesListNotes', summary: "A partner's notes the caller may read: their own, or all for a manager", params: S.IdParams, response: { 200: S.NoteList } },
  }, async (req) => crm.listNotes(principalOf(req), req.params.id));

  app.delete('/notes/:id', {
    config: { security: write, problems: [404] },
    schema: { tags, operationId: 'alliancesDeleteNote', summary: 'Delete one of the caller\'s notes (any note, for a manager)', params: S.IdParams, response: noContent },
  }, async (req, reply) => {
    await crm.deleteNote(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });
};

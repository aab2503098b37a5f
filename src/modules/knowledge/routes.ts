import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import * as S from './schemas.ts';
import { createKnowledgeExports } from './export.ts';
import { IMPORT_LIMITS } from './ingest.ts';
import { createKnowledgeImports } from './imports.ts';
import { createKnowledgeService } from './service.ts';

/** Knowledge entries: viewers read, members write, admins delete. */
export const knowledgeRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const knowledge = createKnowledgeService(platform);
  const imports = createKnowledgeImports(platform);
  const exports = createKnowledgeExports(platform);
  const tags = ['knowledge'];

  // Registered before /knowledge/:id so the static segments win.
  app.post('/knowledge/imports', {
    // JSON-escaped file contents: room for the import's byte limit twice over; the service checks the real limits.
    bodyLimit: IMPORT_LIMITS.totalBytes * 2 + 65_536,
    config: { security: { policy: { permission: 'knowledge:import' } }, problems: [422] },
    schema: { tags, operationId: 'knowledgeImportFiles', summary: 'Import JSON Lines and Markdown files as entries (scanned for secrets and personal data)', body: S.ImportBody, response: { 201: S.ImportResult } },
  }, async (req, reply) => reply.code(201).send(await imports.import(principalOf(req), req.body.files)));

  app.get('/knowledge/settings', {
    config: { security: { policy: { permission: 'knowledge:import' } } },
    schema: { tags, operationId: 'knowledgeGetSettings', summary: 'The tenant\'s ingestion redaction policy', response: { 200: S.Settings } },
  }, async (req) => imports.settings.get(principalOf(req)));

  app.put('/knowledge/settings', {
    config: { security: { policy: { permission: 'knowledge:configure' } } },
    schema: { tags, operationId: 'knowledgeSetSettings', summary: 'Set the ingestion redaction policy (reject, or redact and report)', body: S.Settings, response: { 200: S.Settings } },
  }, async (req) => imports.settings.set(principalOf(req), req.body));

  app.post('/knowledge/exports', {
    config: { security: { policy: { permission: 'knowledge:export' }, stepUp: true, rateClass: 'export' } },
    schema: { tags, operationId: 'knowledgeRequestExport', summary: 'Start an export job of every entry with a signed, logged manifest', response: { 202: S.ExportStatus } },
  }, async (req, reply) => reply.code(202).send(await exports.request(principalOf(req))));

  app.get('/knowledge/exports/:id', {
    config: { security: { policy: { permission: 'knowledge:export' } }, problems: [404] },
    schema: { tags, operationId: 'knowledgeGetExport', summary: 'The state of an export job', params: S.ExportParams, response: { 200: S.ExportStatus } },
  }, async (req) => exports.get(principalOf(req), req.params.id));

  app.get('/knowledge/exports/:id/download', {
    // A download is an audited action: a HEAD must not count as one.
    exposeHeadRoute: false,
    config: { security: { policy: { permission: 'knowledge:export' }, stepUp: true, rateClass: 'export' }, problems: [404, 409] },
    schema: { tags, operationId: 'knowledgeDownloadExport', summary: 'Download a finished export (verify it with `ocsuite verify export`)', params: S.ExportParams, response: { 200: Type.String({ description: 'the export document (JSON)' }) } },
  }, async (req, reply) => {
    const document = await exports.download(principalOf(req), req.params.id);
    return reply
      .header('content-type', 'application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="knowledge-export-${req.params.id}.json"`)
      .header('cache-control', 'no-store')
      .serializer((s: string) => s)
      .send(document);
  });

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

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createDraftsService } from './drafts.ts';
import { createProvidersService } from './providers.ts';
import * as S from './schemas.ts';
import { createSettingsService } from './settings.ts';
import { createUsageMeter } from './usage.ts';

/**
 * The content generator: settings (PII policy, storage, rules, quota), model
 * providers (sealed keys, egress-checked URLs) and drafts. Admins configure;
 * members draft; viewers read.
 */
export const contentRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const settings = createSettingsService(platform);
  const providers = createProvidersService(platform);
  const drafts = createDraftsService(platform);
  const usage = createUsageMeter(platform);
  const tags = ['content'];

  app.get('/settings', {
    config: { security: { policy: { permission: 'content:read' } } },
    schema: { tags, operationId: 'contentGetSettings', summary: 'The tenant\'s content settings: PII policy, storage, rules, quota', response: { 200: S.Settings } },
  }, async (req) => settings.get(principalOf(req).tenantId));

  app.patch('/settings', {
    config: { security: { policy: { permission: 'content:manage' } } },
    schema: { tags, operationId: 'contentUpdateSettings', summary: 'Change the PII policy, what is stored, content rules or the quota', body: S.UpdateSettings, response: { 200: S.Settings } },
  }, async (req) => settings.update(principalOf(req), req.body));

  app.get('/usage', {
    config: { security: { policy: { permission: 'content:read' } } },
    schema: { tags, operationId: 'contentGetUsage', summary: 'Tokens used today (UTC) against the daily quota', response: { 200: S.Usage } },
  }, async (req) => {
    const p = principalOf(req);
    const [today, s] = await Promise.all([usage.today(p.tenantId), settings.get(p.tenantId)]);
    return { day: new Date().toISOString().slice(0, 10), ...today, dailyTokenQuota: s.dailyTokenQuota };
  });

  app.get('/providers', {
    config: { security: { policy: { permission: 'content:read' } } },
    schema: { tags, operationId: 'contentListProviders', summary: 'Model providers of the tenant (keys never shown)', response: { 200: S.ProviderList } },
  }, async (req) => providers.list(principalOf(req)));

  app.post('/providers', {
    config: { security: { policy: { permission: 'content:manage' } } },
    schema: { tags, operationId: 'contentCreateProvider', summary: 'Add an OpenAI-compatible or offline provider; the key is sealed', body: S.CreateProvider, response: { 201: S.Provider } },
  }, async (req, reply) => reply.code(201).send(await providers.create(principalOf(req), req.body)));

  app.delete('/providers/:id', {
    config: { security: { policy: { permission: 'content:manage' } }, problems: [404] },
    schema: { tags, operationId: 'contentDeleteProvider', summary: 'Remove a provider and its sealed key', params: S.IdParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await providers.remove(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.post('/drafts', {
    config: { security: { policy: { permission: 'content:write' } }, problems: [404, 413, 502] },
    schema: { tags, operationId: 'contentCreateDraft', summary: 'Draft from a template or a model (redacted prompt, metered, rule-checked output)', body: S.CreateDraft, response: { 201: S.Draft } },
  }, async (req, reply) => reply.code(201).send(await drafts.create(principalOf(req), req.body)));

  app.get('/drafts', {
    config: { security: { policy: { permission: 'content:read' } } },
    schema: { tags, operationId: 'contentListDrafts', summary: 'Drafts, newest first', querystring: S.DraftListQuery, response: { 200: S.DraftPage } },
  }, async (req) => drafts.list(principalOf(req), req.query));

  app.get('/drafts/:id', {
    config: { security: { policy: { permission: 'content:read' } }, problems: [404] },
    schema: { tags, operationId: 'contentGetDraft', summary: 'One draft (its text when the tenant stores outputs)', params: S.IdParams, response: { 200: S.Draft } },
  }, async (req) => drafts.get(principalOf(req), req.params.id));
};

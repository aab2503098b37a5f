import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import { catalogueProblems, MarketplaceCatalogueError } from './catalogue.ts';
import * as S from './schemas.ts';
import { createMarketplaceService } from './service.ts';

/**
 * The marketplace: the catalogue, installs and module insights. Installing and
 * uninstalling need a recent second factor (step-up); the credential is shown once.
 */
export const marketplaceRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  // A catalogue entry asking for a permission or an event type no module declares stops the server at start.
  const problems = catalogueProblems(platform.permissions, platform.webhookEvents);
  if (problems.length > 0) throw new MarketplaceCatalogueError(`marketplace catalogue: ${problems.join('; ')}`);
  const market = createMarketplaceService(platform);
  const tags = ['marketplace'];
  const params = S.InstallParams;

  app.get('/modules', {
    config: { security: { policy: { permission: 'marketplace:read' } } },
    schema: { tags, operationId: 'marketplaceListModules', summary: 'The catalogue: installable modules with the permissions and event types each declares', response: { 200: S.CatalogueList } },
  }, async (req) => market.catalogue(principalOf(req)));

  app.get('/installs', {
    config: { security: { policy: { permission: 'marketplace:read' } } },
    schema: { tags, operationId: 'marketplaceListInstalls', summary: 'Installed modules of the tenant (all=true: uninstalled ones too)', querystring: S.ListInstallsQuery, response: { 200: S.InstallList } },
  }, async (req) => market.list(principalOf(req), req.query.all === true));

  app.post('/installs', {
    config: { security: { policy: { permission: 'marketplace:manage' }, stepUp: true }, problems: [409] },
    schema: { tags, operationId: 'marketplaceInstall', summary: 'Install a module: grants it exactly its declared permissions; returns its credential once', body: S.InstallBody, response: { 201: S.Installed } },
  }, async (req, reply) => {
    const installed = await market.install(principalOf(req), req.body.module);
    reply.header('cache-control', 'no-store');
    return reply.code(201).send(installed);
  });

  app.get('/installs/:id', {
    config: { security: { policy: { permission: 'marketplace:read' } }, problems: [404] },
    schema: { tags, operationId: 'marketplaceGetInstall', summary: 'One install and what it was granted', params, response: { 200: S.Install } },
  }, async (req) => market.get(principalOf(req), req.params.id));

  app.get('/installs/:id/insights', {
    config: { security: { policy: { permission: 'marketplace:read' } }, problems: [404] },
    schema: { tags, operationId: 'marketplaceGetInsights', summary: 'Module insights: usage count, last activity, granted and effective scopes', params, response: { 200: S.Insights } },
  }, async (req) => market.insights(principalOf(req), req.params.id));

  app.delete('/installs/:id', {
    config: { security: { policy: { permission: 'marketplace:manage' }, stepUp: true }, problems: [404, 409] },
    schema: { tags, operationId: 'marketplaceUninstall', summary: 'Uninstall a module: its credential stops working at once', params, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await market.uninstall(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });
};

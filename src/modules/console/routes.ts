import type { FastifyPluginAsync } from 'fastify';
import type { Platform } from '../../kernel/platform.ts';
import { notFound, ProblemError } from '../../http/problem.ts';
import { loadConsoleAssets } from './assets.ts';
import { consoleHeaders } from './headers.ts';

const tags = ['console'];
const security = { policy: 'public' as const };
const file = (description: string) => ({ description, content: { '*/*': { schema: { type: 'string' } } } });
const AssetParams = {
  type: 'object',
  properties: { file: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._-]+$' } },
  required: ['file'],
  additionalProperties: false,
} as const;

/**
 * The admin console (web/, built by Vite) at /console: static files only. It
 * signs in and works through the public /api/v1 like any client; the server
 * grants it nothing more.
 */
export const consoleRoutes: FastifyPluginAsync<{ platform: Platform }> = async (app) => {
  const assets = loadConsoleAssets();
  const notBuilt = () => new ProblemError('service-unavailable', 503, 'The console is not built: run `npm run build:console` (see docs/console.md).');

  // The page at /console (no trailing slash: the API's path style); its files under /console/assets/.
  app.get('/console', {
    config: { security, problems: [503] },
    schema: { tags, operationId: 'consoleGetPage', summary: 'The admin console page', response: { 200: file('The console\'s HTML page') } },
  }, async (_req, reply) => {
    const index = assets?.get('index.html');
    if (!index) throw notBuilt();
    return reply.headers(consoleHeaders(index.type, false)).send(index.body);
  });

  app.get('/console/assets/:file', {
    config: { security, problems: [404, 503] },
    schema: { tags, operationId: 'consoleGetAsset', summary: 'A script, style or image of the admin console', params: AssetParams, response: { 200: file('The file') } },
  }, async (req, reply) => {
    if (!assets) throw notBuilt();
    const asset = assets.get(`assets/${(req.params as { file: string }).file}`);
    if (!asset) throw notFound('file');
    return reply.headers(consoleHeaders(asset.type, true)).send(asset.body);
  });
};

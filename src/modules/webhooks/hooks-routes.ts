import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Platform } from '../../kernel/platform.ts';
import { createHookService } from './hook-service.ts';
import * as S from './schemas.ts';

/** The largest body any receiver may accept (its own cap is checked after the lookup). */
const MAX_HOOK_BODY = 1_048_576;

/**
 * POST /hooks/{endpointId}: where n8n and other senders call in. Public (the
 * signature is the credential); the raw body is kept as bytes, because the
 * signature covers exactly what was sent, not a re-serialised parse.
 */
export const hooksRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const hooks = createHookService(platform);
  // Encapsulated: only this plugin's routes take every content type as raw bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_HOOK_BODY }, (_req, body, done) => done(null, body));

  app.post('/hooks/:endpointId', {
    bodyLimit: MAX_HOOK_BODY,
    config: { security: { policy: 'public', rateClass: 'webhooks-inbound' }, problems: [401, 413] },
    schema: {
      tags: ['webhooks'], operationId: 'webhooksReceive', summary: 'Inbound webhook: verified, replay-checked, then handed to the job system',
      params: S.HookParams, response: { 202: S.HookAccepted },
    },
  }, async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    return reply.code(202).send(await hooks.accept(req.params.endpointId, req.headers, body, req.ip));
  });
};

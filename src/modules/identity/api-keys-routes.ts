import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import { notFound } from '../../http/problem.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createApiKey, listApiKeys, revokeApiKey, type ApiKey as StoredApiKey } from './api-keys-service.ts';

const strict = { additionalProperties: false } as const;
/** Scopes are the permissions of the catalogue (the composed modules'), never `session`. */
const createBody = (platform: Platform) => Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scopes: Type.Array(Type.Union(platform.permissions.entries().map((p) => Type.Literal(p.key))), { minItems: 1, maxItems: 32, uniqueItems: true }),
    expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  },
  strict,
);
const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
const CreatedApiKey = Type.Object({ ...ApiKey.properties, key: Type.String() });

const view = (k: StoredApiKey) => ({
  id: k.id, name: k.name, scopes: k.scopes, createdAt: k.createdAt.toISOString(),
  expiresAt: k.expiresAt?.toISOString() ?? null, lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
});

/**
 * API keys for machines. A key's scopes may not exceed its creator's own
 * permissions; creation needs a recent second factor; the key is shown once.
 */
export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const tags = ['api-keys'];
  const CreateBody = createBody(platform);

  app.post('/api-keys', {
    config: { security: { policy: { permission: 'apikeys:manage' }, stepUp: true } },
    schema: { tags, operationId: 'identityCreateApiKey', summary: 'Create an API key with scopes the caller holds (step-up; shown once)', body: CreateBody, response: { 201: CreatedApiKey } },
  }, async (req, reply) => {
    const { apiKey, key } = await createApiKey(platform, principalOf(req), req.body);
    reply.header('cache-control', 'no-store');
    return reply.code(201).send({ ...view(apiKey), key });
  });

  app.get('/api-keys', {
    config: { security: { policy: { permission: 'apikeys:manage' } } },
    schema: { tags, operationId: 'identityListApiKeys', summary: 'List the tenant\'s API keys', response: { 200: Type.Object({ items: Type.Array(ApiKey) }) } },
  }, async (req) => ({ items: (await listApiKeys(platform, principalOf(req))).map(view) }));

  app.delete('/api-keys/:id', {
    config: { security: { policy: { permission: 'apikeys:manage' } }, problems: [404] },
    schema: { tags, operationId: 'identityRevokeApiKey', summary: 'Revoke an API key', params: Type.Object({ id: Type.String({ format: 'uuid' }) }, strict), response: { 204: Type.Null() } },
  }, async (req, reply) => {
    if (!(await revokeApiKey(platform, principalOf(req), req.params.id))) throw notFound('API key');
    return reply.code(204).send(null);
  });
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { sql } from 'drizzle-orm';
import { principalOf } from '../../http/authenticate.ts';
import { notFound, ProblemError } from '../../http/problem.ts';
import { PERMISSIONS } from '../../kernel/access/permissions.ts';
import { newApiKey, validScopes } from '../../kernel/auth/api-keys.ts';
import { contextOf } from '../../kernel/auth/principal.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import type { Platform } from '../../platform.ts';

const strict = { additionalProperties: false } as const;
const Scope = Type.Union(PERMISSIONS.filter((p) => p !== 'session').map((p) => Type.Literal(p)));
const CreateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scopes: Type.Array(Scope, { minItems: 1, maxItems: 32, uniqueItems: true }),
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

interface Row {
  id: string;
  name: string;
  scopes: string[];
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
}
const view = (r: Row) => ({
  id: r.id, name: r.name, scopes: r.scopes, createdAt: r.created_at.toISOString(),
  expiresAt: r.expires_at?.toISOString() ?? null, lastUsedAt: r.last_used_at?.toISOString() ?? null,
});

/**
 * API keys for machines. A key's scopes may not exceed its creator's own
 * permissions; creation needs a recent second factor; the key is shown once.
 */
export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const tags = ['api-keys'];

  app.post('/api-keys', {
    config: { security: { policy: { permission: 'apikeys:manage' }, stepUp: true } },
    schema: { tags, body: CreateBody, response: { 201: CreatedApiKey } },
  }, async (req, reply) => {
    const p = principalOf(req);
    const { scopes } = req.body;
    if (!validScopes(scopes)) throw new ProblemError('validation-failed', 400, 'Unknown scope.');
    const beyond = scopes.filter((s) => !p.permissions.has(s));
    if (beyond.length) throw new ProblemError('role-escalation', 403, `You cannot grant scopes you do not hold: ${beyond.join(', ')}.`);
    const { key, hash } = newApiKey();
    const days = req.body.expiresInDays;
    const [row] = await platform.withTenant(contextOf(p), async (tx) => {
      const rows = await tx.query<Row>(sql`
        INSERT INTO api_keys (tenant_id, name, secret_hash, scopes, created_by, expires_at)
        VALUES (${p.tenantId}, ${req.body.name}, ${hash}, ${sql.param(scopes)}::text[], ${p.userId}, ${days ? sql`now() + make_interval(days => ${days})` : sql`NULL`})
        RETURNING id, name, scopes, created_at, expires_at, last_used_at`);
      await recordAuditEvent(tx, {
        tenantId: p.tenantId, actor: auditActorOf(p), action: 'apikey.created', target: { type: 'api_key', id: rows[0]?.id },
        outcome: 'success', metadata: { name: req.body.name, scopes, expiresInDays: days ?? null },
      });
      return rows;
    });
    reply.header('cache-control', 'no-store');
    return reply.code(201).send({ ...view(row!), key });
  });

  app.get('/api-keys', {
    config: { security: { policy: { permission: 'apikeys:manage' } } },
    schema: { tags, response: { 200: Type.Object({ items: Type.Array(ApiKey) }) } },
  }, async (req) => {
    const rows = await platform.queryAsTenant<Row>(contextOf(principalOf(req)), sql`
      SELECT id, name, scopes, created_at, expires_at, last_used_at FROM api_keys
      WHERE revoked_at IS NULL ORDER BY created_at DESC LIMIT 1000`);
    return { items: rows.map(view) };
  });

  app.delete('/api-keys/:id', {
    config: { security: { policy: { permission: 'apikeys:manage' } } },
    schema: { tags, params: Type.Object({ id: Type.String({ format: 'uuid' }) }, strict), response: { 204: Type.Null() } },
  }, async (req, reply) => {
    const p = principalOf(req);
    const rows = await platform.withTenant(contextOf(p), async (tx) => {
      const revoked = await tx.query(sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${req.params.id} AND revoked_at IS NULL RETURNING id`);
      if (revoked.length > 0) {
        await recordAuditEvent(tx, { tenantId: p.tenantId, actor: auditActorOf(p), action: 'apikey.revoked', target: { type: 'api_key', id: req.params.id }, outcome: 'success' });
      }
      return revoked;
    });
    if (rows.length === 0) throw notFound('API key');
    return reply.code(204).send(null);
  });
};

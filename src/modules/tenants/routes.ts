import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import { forbidden } from '../../http/problem.ts';
import { auditActorOf } from '../../kernel/audit/events.ts';
import type { Platform } from '../../kernel/platform.ts';
import { deleteTenant } from './deletion.ts';
import { dataKeyStatus } from './keys-service.ts';
import * as S from './schemas.ts';

const DeleteTenantBody = Type.Object(
  { confirmName: Type.String({ minLength: 1, maxLength: 200, description: 'the exact name of the tenant, as a guard against a slip' }) },
  { additionalProperties: false },
);

const DeletionReceipt = Type.Object(
  {
    tenantId: Type.String(),
    deletedAt: Type.String({ format: 'date-time' }),
    shreddedKeyVersions: Type.Integer(),
    erasedConnectors: Type.Integer(),
    erasedRows: Type.Record(Type.String(), Type.Integer(), { description: 'rows erased, by table' }),
    revokedSessions: Type.Integer(),
  },
  { additionalProperties: false },
);

/** The caller's own tenant: the state of its data keys, and deletion by crypto-shredding (owners only). */
export const tenantRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  app.get('/tenant/keys', {
    config: { security: { policy: { permission: 'keys:read' } } },
    schema: { tags: ['tenant'], operationId: 'tenantsGetDataKeys', summary: 'The tenant\'s data-key versions and their state (never key material)', response: { 200: S.DataKeyStatus } },
  }, async (req) => dataKeyStatus(platform, principalOf(req)));

  app.delete('/tenant', {
    // Irreversible: the owner must have proven a second factor moments ago (step-up), and name the tenant.
    config: { security: { policy: { permission: 'tenant:delete' }, stepUp: true }, problems: [404] },
    schema: { tags: ['tenant'], operationId: 'tenantsDeleteTenant', summary: 'Delete the caller\'s tenant by crypto-shredding its keys (owner, step-up)', body: DeleteTenantBody, response: { 200: DeletionReceipt } },
  }, async (req) => {
    const principal = principalOf(req);
    // A machine credential never deletes a tenant, whatever its scopes say.
    if (principal.kind !== 'user') throw forbidden('Only a person (an owner) can delete a tenant.');
    // Revoked sessions stop at once on this node (within seconds on the others).
    return deleteTenant(platform, principal.tenantId, auditActorOf(principal), {
      confirmName: req.body.confirmName,
      onSessionsRevoked: (ids) => ids.forEach((id) => app.forgetSession(id)),
    });
  });
};

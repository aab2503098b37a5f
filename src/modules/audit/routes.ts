import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import * as S from './schemas.ts';
import { createAuditService } from './service.ts';
import { tenantReport, type ReportDays } from './report-service.ts';

/**
 * Audit trail and transparency log of the caller's tenant (from the token,
 * never from input): admins and owners read events, checkpoints and proofs;
 * the verifier key is public so anyone can check what they are shown.
 */
export const auditRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const audit = createAuditService(platform);
  const tags = ['audit'];
  const read = { security: { policy: { permission: 'audit:read' as const } } };

  app.get('/audit-events', {
    // A search over the whole trail: a budget of its own per user (OCSUITE_EXPENSIVE_RATE_LIMIT).
    config: { security: { ...read.security, rateClass: 'expensive' } },
    schema: { tags, operationId: 'auditListEvents', summary: 'List the tenant\'s audit events (keyset pages)', querystring: S.ListQuery, response: { 200: S.EventPage } },
  }, async (req) => audit.list(principalOf(req), req.query));

  app.get('/audit/report', {
    config: { security: { ...read.security, rateClass: 'expensive' } },
    schema: { tags, operationId: 'auditGetReport', summary: 'The tenant\'s security report per day (sign-ins, failures, denials, exports, admin actions)', querystring: S.ReportQuery, response: { 200: S.Report } },
  }, async (req) => tenantReport(platform, principalOf(req), (req.query.days ?? 7) as ReportDays));

  app.get('/audit-events/export', {
    // An export is an audited action: a HEAD must not count as one.
    exposeHeadRoute: false,
    // A bulk download of the tenant's history: rate limited, and only with a recently proven second factor.
    config: { security: { policy: { permission: 'audit:export' }, rateClass: 'export', stepUp: true } },
    schema: { tags, operationId: 'auditExportEvents', summary: 'Download the tenant\'s audit events as JSON Lines or CSV', querystring: S.ExportQuery, response: { 200: Type.String({ description: 'JSON Lines or CSV' }) } },
  }, async (req, reply) => {
    const out = await audit.export(principalOf(req), req.query, req);
    return reply
      .header('content-type', out.contentType)
      .header('content-disposition', `attachment; filename="${out.filename}"`)
      .header('cache-control', 'no-store')
      // A stream of text lines; the string schema documents it, serialisation does not apply to streams.
      .send(out.stream as unknown as string);
  });

  app.get('/translog/checkpoint', {
    config: read,
    schema: { tags, operationId: 'auditGetCheckpoint', summary: 'The signed checkpoint of the tenant\'s transparency log', response: { 200: S.Checkpoint } },
  }, async (req) => audit.checkpoint(principalOf(req)));

  app.get('/translog/proof/inclusion', {
    config: { ...read, problems: [404] },
    schema: { tags, operationId: 'auditGetInclusionProof', summary: 'RFC 6962 inclusion proof of one audit event', querystring: S.InclusionQuery, response: { 200: S.InclusionProof } },
  }, async (req) => audit.inclusion(principalOf(req), req.query));

  app.get('/translog/proof/consistency', {
    config: { ...read, problems: [404] },
    schema: { tags, operationId: 'auditGetConsistencyProof', summary: 'RFC 6962 consistency proof between two tree sizes', querystring: S.ConsistencyQuery, response: { 200: S.ConsistencyProof } },
  }, async (req) => audit.consistency(principalOf(req), req.query));

  app.get('/translog/key', {
    config: { security: { policy: 'public' } },
    schema: { tags, operationId: 'auditGetVerifierKey', summary: 'The public key that verifies checkpoints', response: { 200: S.VerifierKey } },
  }, async () => audit.key());

  app.get('/translog/keys', {
    config: { security: { policy: 'public' } },
    schema: { tags, operationId: 'auditListVerifierKeys', summary: 'Every checkpoint key with its validity period', response: { 200: S.KeyHistory } },
  }, async () => audit.keyHistory(null));

  app.get('/translog/key-history', {
    config: read,
    schema: { tags, operationId: 'auditGetKeyHistory', summary: 'The checkpoint keys with the sizes of the tenant\'s log each retired key signed', response: { 200: S.KeyHistory } },
  }, async (req) => audit.keyHistory(principalOf(req)));

  // The platform log, for operators (issue #22 §4): the operator token, never a tenant's.
  const operator = { security: { policy: 'operator' as const } };
  app.get('/operator/translog/checkpoint', {
    config: operator,
    schema: { tags, operationId: 'auditOperatorGetCheckpoint', summary: 'The signed, cosigned checkpoint of the platform log (operator)', response: { 200: S.Checkpoint } },
  }, async () => audit.operator.checkpoint());

  app.get('/operator/translog/proof/inclusion', {
    config: { ...operator, problems: [404] },
    schema: { tags, operationId: 'auditOperatorGetInclusionProof', summary: 'RFC 6962 inclusion proof of one platform audit event (operator)', querystring: S.InclusionQuery, response: { 200: S.InclusionProof } },
  }, async (req) => audit.operator.inclusion(req.query));

  app.get('/operator/translog/proof/consistency', {
    config: { ...operator, problems: [404] },
    schema: { tags, operationId: 'auditOperatorGetConsistencyProof', summary: 'RFC 6962 consistency proof between two sizes of the platform log (operator)', querystring: S.ConsistencyQuery, response: { 200: S.ConsistencyProof } },
  }, async (req) => audit.operator.consistency(req.query));

  app.get('/operator/translog/events', {
    config: operator,
    schema: { tags, operationId: 'auditOperatorListEvents', summary: 'List the platform log\'s audit events (operator, keyset pages)', querystring: S.ListQuery, response: { 200: S.EventPage } },
  }, async (req) => audit.operator.events(req.query));

  app.post('/operator/translog/cosignatures', {
    config: { ...operator, problems: [404, 422] },
    schema: { tags, operationId: 'auditOperatorAddCosignatures', summary: 'Store cosignatures of a configured witness the platform cannot push to (operator)', body: S.CosignaturesBody, response: { 200: S.CosignaturesStored } },
  }, async (req) => audit.operator.addCosignatures(req.body));
};

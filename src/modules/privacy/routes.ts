import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import * as S from './schemas.ts';
import { createPrivacyService } from './service.ts';

/** Data-subject requests: admin-only, with a fresh second factor, rate class `export`, audited. */
export const privacyRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const privacy = createPrivacyService(platform);
  const tags = ['privacy'];
  const security = { policy: { permission: 'privacy:manage' }, stepUp: true, rateClass: 'export' } as const;

  app.post('/exports', {
    config: { security, problems: [404] },
    schema: { tags, operationId: 'privacyExportSubject', summary: 'Everything the tenant holds about one person, as one archive', body: S.SubjectBody, response: { 200: S.SubjectArchive } },
  }, async (req) => privacy.export(principalOf(req), req.body));

  app.post('/erasures', {
    config: { security, problems: [404, 409] },
    schema: { tags, operationId: 'privacyEraseSubject', summary: 'Erase or pseudonymise one person\'s data in every module', body: S.SubjectBody, response: { 200: S.ErasureReceipt } },
  }, async (req) => privacy.erase(principalOf(req), req.body));
};

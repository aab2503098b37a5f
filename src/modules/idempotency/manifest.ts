import type { Platform } from '../../kernel/platform.ts';
import { eraseSubjectKeys, eraseTenantKeys, IDEMPOTENCY_CELL, IDEMPOTENCY_TABLE, pruneExpiredKeys } from '../../http/idempotency-store.ts';
import { defineModule } from '../manifest.ts';

/**
 * The table of Idempotency-Keys and their first responses (http/idempotency.ts, issue #23 §4).
 * No routes of its own: the request path applies keys to every route that creates something.
 */
export const idempotencyModule = defineModule({
  name: 'idempotency',
  description: 'Idempotency-Key of creates: the first response to a key, kept 24 hours',
  permissions: [],
  tables: [{ name: IDEMPOTENCY_TABLE, onTenantErasure: 'erase' }],
  sealedColumns: [{ ...IDEMPOTENCY_CELL, idColumn: 'id', idType: 'uuid', scope: 'tenant', owner: 'http/idempotency' }],
  schedules: [{
    name: 'idempotency-keys.prune',
    cron: '17 * * * *',
    description: 'delete Idempotency-Keys and their kept responses older than 24 hours (http/idempotency.ts)',
    handler: (platform) => async () => {
      await pruneExpiredKeys(platform as Platform);
    },
  }],
  async eraseTenant(tx, tenantId) {
    return { [IDEMPOTENCY_TABLE]: await eraseTenantKeys(tx, tenantId) };
  },
  async eraseSubject(tx, subject) {
    return { [IDEMPOTENCY_TABLE]: await eraseSubjectKeys(tx, subject.tenantId, subject.userId) };
  },
});

import { sql } from 'drizzle-orm';
import type { Platform } from '../../kernel/platform.ts';
import { defineModule } from '../manifest.ts';
import { createDeliveryHandler } from './delivery.ts';
import { createInboundHandler } from './hook-service.ts';
import { hooksRoutes } from './hooks-routes.ts';
import { DELIVERY_QUEUE, INBOUND_QUEUE, parseDeliveryJob, parseInboundJob } from './queues.ts';
import { webhooksRoutes } from './routes.ts';
import { retentionHandler } from './retention.ts';
import { eraseWebhookSubject, exportWebhookSubject } from './subject.ts';
import { sweepHandler } from './sweep.ts';

const sealed = (table: string, column: string) => ({ table, column, idColumn: 'id', idType: 'uuid', scope: 'tenant', owner: 'modules/webhooks' }) as const;

/** Webhooks in and out (issue #13): signed, replay-proof, SSRF-safe, tenant-scoped. */
export const webhooksModule = defineModule({
  name: 'webhooks',
  description: 'Outbound webhook endpoints with signed, retried deliveries; inbound receivers with verification and replay refusal',
  api: { prefix: '/webhooks', plugin: webhooksRoutes },
  publicRoutes: hooksRoutes,
  permissions: [
    { key: 'webhooks:read', description: 'List webhook endpoints, receivers, messages and the delivery log (never a secret)', grantedTo: ['admin'] },
    { key: 'webhooks:manage', description: 'Create, change, delete and rotate webhook endpoints and receivers; replay messages', grantedTo: ['admin'] },
  ],
  tables: [
    { name: 'webhook_endpoints', onTenantErasure: 'erase' },
    { name: 'webhook_messages', onTenantErasure: 'erase' },
    { name: 'webhook_deliveries', onTenantErasure: 'erase' },
    { name: 'webhook_attempts', onTenantErasure: 'erase' },
    { name: 'webhook_receivers', onTenantErasure: 'erase' },
    { name: 'webhook_inbound_events', onTenantErasure: 'erase' },
  ],
  sealedColumns: [
    sealed('webhook_endpoints', 'secret_sealed'),
    sealed('webhook_endpoints', 'previous_secret_sealed'),
    sealed('webhook_receivers', 'secret_sealed'),
    sealed('webhook_receivers', 'previous_secret_sealed'),
  ],
  auditEvents: [
    'webhook.endpoint.created', 'webhook.endpoint.updated', 'webhook.endpoint.deleted', 'webhook.endpoint.secret_rotated', 'webhook.endpoint.disabled',
    'webhook.messages.replayed',
    'webhook.receiver.created', 'webhook.receiver.updated', 'webhook.receiver.deleted', 'webhook.receiver.secret_rotated', 'webhook.inbound.refused',
  ],
  webhookEvents: [
    { type: 'webhooks.test', description: 'A test message, sent on request to one endpoint', permission: 'webhooks:read' },
    { type: 'webhooks.endpoint.disabled', description: 'Another endpoint of the tenant was disabled after persistent delivery failure', permission: 'webhooks:read' },
  ],
  rateClasses: [
    { name: 'webhooks-inbound', perMinute: 1_200, description: 'inbound webhook calls per minute per sender IP (POST /hooks/{id})' },
  ],
  async jobs(platform: Platform) {
    await platform.jobs.define(DELIVERY_QUEUE, createDeliveryHandler(platform), { parse: parseDeliveryJob });
    await platform.jobs.define(INBOUND_QUEUE, createInboundHandler(platform), { parse: parseInboundJob });
  },
  schedules: [
    {
      name: 'webhooks.sweep',
      cron: '* * * * *',
      description: 'queue again overdue webhook deliveries and inbound events whose job was lost',
      handler: (platform) => sweepHandler(platform as Platform),
    },
    {
      name: 'webhooks.retention',
      cron: '17 * * * *',
      description: 'delete webhook messages, delivery logs and inbound events older than OCSUITE_WEBHOOK_RETENTION_DAYS',
      handler: (platform) => retentionHandler(platform as Platform),
    },
  ],
  async eraseTenant(tx, tenantId) {
    // Children first (the foreign keys cascade too, but the receipt counts each table).
    const counts: Record<string, number> = {};
    for (const table of ['webhook_attempts', 'webhook_deliveries', 'webhook_messages', 'webhook_endpoints', 'webhook_inbound_events', 'webhook_receivers']) {
      const rows = await tx.query(sql`DELETE FROM ${sql.identifier(table)} WHERE tenant_id = ${tenantId} RETURNING 1`);
      counts[table] = rows.length;
    }
    return counts;
  },
  exportSubject: exportWebhookSubject,
  eraseSubject: eraseWebhookSubject,
});

import { sql } from 'drizzle-orm';
import type { PlatformHandler } from '../../kernel/jobs/port.ts';
import type { Platform } from '../../kernel/platform.ts';

/**
 * Hourly: messages (with their deliveries and attempt log) and accepted inbound
 * events older than OCSUITE_WEBHOOK_RETENTION_DAYS are deleted. The maintenance
 * role only finds which tenants have such rows; each tenant's rows are deleted
 * in that tenant's own transaction (RLS), so this path cannot reach a live
 * tenant's other data. A message with a delivery still pending is kept.
 */
export function retentionHandler(platform: Platform): PlatformHandler {
  return async () => {
    const days = platform.config.webhookRetentionDays;
    const tenants = await platform.withMaintenance((tx) => tx.query<{ tenant_id: string }>(sql`
      SELECT tenant_id FROM webhook_messages WHERE created_at < now() - make_interval(days => ${days}::int)
      UNION SELECT tenant_id FROM webhook_inbound_events WHERE received_at < now() - make_interval(days => ${days}::int)`));
    for (const { tenant_id: tenantId } of tenants) {
      await platform.withTenant({ tenantId }, async (tx) => {
        await tx.query(sql`
          DELETE FROM webhook_messages m WHERE m.created_at < now() - make_interval(days => ${days}::int)
            AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id AND d.status = 'pending')`);
        await tx.query(sql`DELETE FROM webhook_inbound_events WHERE received_at < now() - make_interval(days => ${days}::int) AND status = 'dispatched'`);
      });
    }
  };
}

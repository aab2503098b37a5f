import { sql } from 'drizzle-orm';
import type { PlatformHandler } from '../../kernel/jobs/port.ts';
import type { Platform } from '../../kernel/platform.ts';
import { DELIVERY_QUEUE, INBOUND_QUEUE } from './queues.ts';

/** Work older than this without its job is presumed lost (a crash between commit and enqueue, a lost job). */
const GRACE_SECONDS = 60;
const BATCH = 500;

/**
 * Once a minute: queues again every pending delivery whose attempt is overdue
 * and every inbound event not yet handed to its subscribers. The job ids are
 * new (per sweep minute), and the handlers claim their work, so a job that was
 * only late does the work once and the other finds nothing to do.
 */
export function sweepHandler(platform: Platform): PlatformHandler {
  return async () => {
    const minute = Math.floor(Date.now() / 60_000);
    const [deliveries, events] = await platform.withMaintenance(async (tx) => [
      await tx.query<{ tenant_id: string; id: string; attempts: number }>(sql`
        SELECT tenant_id, id, attempts FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at < now() - make_interval(secs => ${GRACE_SECONDS}::double precision)
        ORDER BY next_attempt_at LIMIT ${BATCH}`),
      await tx.query<{ tenant_id: string; id: string }>(sql`
        SELECT tenant_id, id FROM webhook_inbound_events
        WHERE status = 'received' AND received_at < now() - make_interval(secs => ${GRACE_SECONDS}::double precision)
        ORDER BY received_at LIMIT ${BATCH}`),
    ] as const);
    for (const d of deliveries) {
      await platform.jobs.send(DELIVERY_QUEUE.name, { deliveryId: d.id, attempt: d.attempts + 1 }, { tenantId: d.tenant_id, idempotencyKey: `${d.id}:${d.attempts + 1}:sweep-${minute}` });
    }
    for (const e of events) {
      await platform.jobs.send(INBOUND_QUEUE.name, { eventId: e.id }, { tenantId: e.tenant_id, idempotencyKey: `${e.id}:sweep-${minute}` });
    }
  };
}

import type { Platform } from '../../kernel/platform.ts';
import { inboundWebhooks } from '../webhooks/inbound-events.ts';
import { outreachServiceOf } from './service.ts';

/** What an inbound event must carry to suppress an address (`{ "type": "mail.bounced", "data": { "email": … } }`). */
const ADDRESS = /^[^\s@<>"]{1,64}@[^\s@<>"]{1,255}$/;

export const BOUNCE_EVENTS = { 'mail.bounced': 'bounced', 'mail.complaint': 'complained', 'mail.complained': 'complained' } as const;

function addressOf(payload: unknown): string | undefined {
  const data = (payload as { data?: unknown } | null)?.data as Record<string, unknown> | undefined;
  const candidate = data?.email ?? data?.recipient ?? data?.address;
  return typeof candidate === 'string' && candidate.length <= 320 && ADDRESS.test(candidate.trim()) ? candidate.trim() : undefined;
}

/**
 * Bounces and complaints reported to the tenant's inbound receivers (webhooks
 * module, verified and replay-checked there) suppress the address in that same
 * tenant: the bus hands the receiver tenant's transaction, so a report can only
 * ever suppress within the tenant whose receiver accepted it. A payload without
 * a usable address changes nothing (the event stays recorded by the receiver).
 */
export function subscribeBounces(platform: Platform): void {
  const bus = inboundWebhooks(platform);
  const outreach = outreachServiceOf(platform);
  for (const [type, reason] of Object.entries(BOUNCE_EVENTS)) {
    bus.subscribe(type, async (event, tx) => {
      const address = addressOf(event.payload);
      if (!address) {
        platform.log.warn({ type, receiverId: event.receiverId }, 'inbound bounce without a usable address: ignored');
        return;
      }
      await outreach.suppressWithin(tx, event.tenantId, address, reason);
    });
  }
}

import type { Session } from '../../db/client.ts';
import type { Platform } from '../../kernel/platform.ts';

/**
 * The inbound event bus: how other modules consume what receivers accept.
 *
 *   import { inboundWebhooks } from '../webhooks/inbound-events.ts';
 *   // in the consuming module's manifest `jobs(platform)` hook:
 *   inboundWebhooks(platform).subscribe('mail.bounced', async (event, tx) => { … });
 *
 * A handler runs in the job system (queue `webhooks.inbound`), inside one
 * transaction of the receiver's tenant (RLS: it sees only that tenant), after
 * the event was verified (signature, timestamp, replay, allowlist, type). It
 * runs at least once: a failing handler is retried with the event, so it must
 * be idempotent (`event.id` is stable; `event.webhookId` is the sender's id).
 * Handlers of one event run one after another; one that throws stops the rest
 * and the whole event is retried. The payload is the sender's JSON as received:
 * validate it before use.
 */
export interface InboundEvent {
  id: string;
  tenantId: string;
  receiverId: string;
  webhookId: string;
  type: string;
  payload: unknown;
  receivedAt: string;
}

export type InboundHandler = (event: InboundEvent, tx: Session) => Promise<void>;

export interface InboundWebhooks {
  /** `type` is exact, `prefix.*` or `*`. Returns an unsubscribe function. */
  subscribe(type: string, handler: InboundHandler): () => void;
  /** The handlers an event of this type goes to, in subscription order. */
  handlersFor(type: string): InboundHandler[];
}

const buses = new WeakMap<Platform, InboundWebhooks>();

/** The bus of one platform (a process may host several, in tests). */
export function inboundWebhooks(platform: Platform): InboundWebhooks {
  let bus = buses.get(platform);
  if (!bus) {
    const subs: Array<{ type: string; handler: InboundHandler }> = [];
    bus = {
      subscribe(type, handler) {
        const entry = { type, handler };
        subs.push(entry);
        return () => {
          const i = subs.indexOf(entry);
          if (i >= 0) subs.splice(i, 1);
        };
      },
      handlersFor(type) {
        return subs.filter((s) => s.type === '*' || s.type === type || (s.type.endsWith('.*') && type.startsWith(s.type.slice(0, -1)))).map((s) => s.handler);
      },
    };
    buses.set(platform, bus);
  }
  return bus;
}

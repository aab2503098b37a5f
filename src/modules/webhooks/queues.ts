import type { QueueDefinition } from '../../kernel/jobs/port.ts';

/**
 * One job per delivery attempt. The retry schedule is the delivery's own (its
 * next attempt is a new job, delayed), so the queue's retries only cover a
 * worker that died mid-attempt. Not transactional: an attempt waits on the
 * network and must not hold a transaction open meanwhile.
 */
export const DELIVERY_QUEUE: QueueDefinition = {
  name: 'webhooks.deliver',
  scope: 'tenant',
  retryLimit: 2,
  retryDelaySeconds: 5,
  expireInSeconds: 60,
  maxDepth: 50_000,
  concurrency: 4,
  tenantConcurrency: 2,
  transactional: false,
};

/** Verified inbound events handed to the subscribers of their type (inbound-events.ts), in the receiver's tenant. */
export const INBOUND_QUEUE: QueueDefinition = {
  name: 'webhooks.inbound',
  scope: 'tenant',
  retryLimit: 5,
  retryDelaySeconds: 5,
  expireInSeconds: 60,
  maxDepth: 50_000,
  concurrency: 2,
  tenantConcurrency: 2,
};

export interface DeliveryJob {
  deliveryId: string;
  /** The attempt this job makes (1-based): a duplicate job for an attempt already made does nothing. */
  attempt: number;
}

export interface InboundJob {
  eventId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseDeliveryJob(data: unknown): DeliveryJob {
  const d = data as Partial<DeliveryJob> | null;
  if (!d || typeof d.deliveryId !== 'string' || !UUID.test(d.deliveryId) || !Number.isSafeInteger(d.attempt) || d.attempt! < 1) throw new Error('not a webhook delivery job');
  return { deliveryId: d.deliveryId.toLowerCase(), attempt: d.attempt! };
}

export function parseInboundJob(data: unknown): InboundJob {
  const d = data as Partial<InboundJob> | null;
  if (!d || typeof d.eventId !== 'string' || !UUID.test(d.eventId)) throw new Error('not an inbound webhook job');
  return { eventId: d.eventId.toLowerCase() };
}

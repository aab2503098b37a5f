import { createHash } from 'node:crypto';
import { isUuid } from '../kernel/ids.ts';

/**
 * What a driver stores for every job: the tenant travels next to the payload,
 * outside it, so a handler cannot be handed a tenant by the data it processes.
 * Anything else in the driver's store is unparseable and goes to the dead letters.
 */
export interface Envelope {
  v: 1;
  tenantId: string | null;
  data: unknown;
}

export function seal(tenantId: string | null, data: unknown): Envelope {
  return { v: 1, tenantId: tenantId?.toLowerCase() ?? null, data };
}

export type Parsed = { ok: true; envelope: Envelope } | { ok: false; reason: string; claimedTenantId: string | null };

export function parseEnvelope(raw: unknown): Parsed {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'payload is not an object', claimedTenantId: null };
  const r = raw as Record<string, unknown>;
  const claimed = typeof r.tenantId === 'string' ? r.tenantId.slice(0, 100) : null;
  if (r.v !== 1) return { ok: false, reason: 'payload has no envelope version 1', claimedTenantId: claimed };
  if (r.tenantId !== null && !isUuid(r.tenantId)) return { ok: false, reason: 'envelope tenantId is neither null nor a UUID', claimedTenantId: claimed };
  if (!('data' in r)) return { ok: false, reason: 'envelope has no data', claimedTenantId: claimed };
  return { ok: true, envelope: { v: 1, tenantId: (r.tenantId as string | null)?.toLowerCase() ?? null, data: r.data } };
}

/**
 * An idempotency key becomes the job's id, so the driver itself refuses the
 * duplicate (pg-boss: primary key; BullMQ: jobId) for as long as it keeps the
 * job (docs/jobs.md: the idempotency window). Queue and tenant are part of the
 * id, so two tenants' keys never collide.
 */
export function idempotentJobId(queue: string, tenantId: string | null, key: string): string {
  const h = createHash('sha256').update(`ocsuite-job|${queue}|${tenantId ?? '-'}|${key}`).digest();
  // RFC 9562 §5.8 (UUIDv8: custom), so pg-boss's uuid column accepts it.
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

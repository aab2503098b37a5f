/**
 * Permission denials are audit events of the caller's tenant. They are
 * recorded off the response path in their own transaction, with a cap on
 * writes in flight so a client hammering a forbidden route cannot turn
 * refusals into unbounded database work (dropped events are counted and logged).
 */
import type { Principal } from '../auth/principal.ts';
import type { Platform } from '../platform.ts';
import { auditActorOf, recordAuditEventNow } from './events.ts';
import { auditRequestOf, type RequestLike } from './request-context.ts';
import { trackAuditWrite } from './background.ts';

const MAX_IN_FLIGHT = 64;
let inFlight = 0;
let dropped = 0;

/** `route` is the route template (`GET /api/v1/members/:userId`), never the raw URL. */
export function auditDenial(platform: Platform, request: RequestLike, route: string, principal: Principal, reason: string): Promise<void> {
  if (inFlight >= MAX_IN_FLIGHT) {
    if (++dropped % 100 === 1) platform.log.warn({ dropped }, 'access-denied audit events dropped under load');
    return Promise.resolve();
  }
  inFlight++;
  return trackAuditWrite(recordAuditEventNow(platform, {
    tenantId: principal.tenantId,
    actor: auditActorOf(principal),
    action: 'access.denied',
    target: { type: 'route', id: route },
    outcome: 'failure',
    reason,
    request: auditRequestOf(request),
  })
    .catch((err: unknown) => platform.log.error({ err: (err as Error).message }, 'could not record a permission denial'))
    .finally(() => inFlight--));
}

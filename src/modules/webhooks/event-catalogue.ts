import { ProblemError } from '../../http/problem.ts';
import type { Principal } from '../../kernel/auth/principal.ts';
import type { Platform } from '../../kernel/platform.ts';

/**
 * Subscriptions name catalogued event types only (the modules' manifests), and a
 * member may subscribe an endpoint only to events whose permission they hold:
 * an endpoint is a standing read of the payloads it receives.
 */
export function assertSubscribable(platform: Platform, principal: Principal, types: readonly string[]): void {
  const byType = new Map(platform.webhookEvents.map((e) => [e.type, e]));
  const unknown = types.filter((t) => !byType.has(t));
  if (unknown.length > 0) {
    throw new ProblemError('validation-failed', 400, `unknown event types: ${unknown.join(', ')} (see GET /api/v1/webhooks/event-types)`, { extensions: { unknownEventTypes: unknown } });
  }
  const missing = [...new Set(types.map((t) => byType.get(t)!.permission).filter((p) => !principal.permissions.has(p)))];
  if (missing.length > 0) {
    throw new ProblemError('forbidden', 403, 'subscribing to these event types needs permissions you do not hold', { extensions: { missingPermissions: missing } });
  }
}

/** The event types whose payloads the principal may read (messages of other types are not listed to them). */
export function readableEventTypes(platform: Platform, principal: Principal): string[] {
  return platform.webhookEvents.filter((e) => principal.permissions.has(e.permission)).map((e) => e.type);
}

export function eventTypesFor(platform: Platform, principal: Principal) {
  return { items: platform.webhookEvents.map((e) => ({ ...e, subscribable: principal.permissions.has(e.permission) })) };
}

import type { Permission } from './permissions.ts';

/** What a route requires. `operator` is the platform operator's bearer token (/metrics). */
export type RoutePolicy = 'public' | 'operator' | { permission: Permission };

/**
 * Rate-limit classes: `auth` for credential endpoints, `export` for bulk downloads,
 * `health` for liveness/readiness probes (a budget of their own, so a client that
 * spent its budget cannot make readiness fail for everyone), `default` otherwise.
 */
export type RateClass = 'default' | 'auth' | 'export' | 'health';

export interface RouteSecurity {
  policy: RoutePolicy;
  rateClass?: RateClass;
  /** A sensitive operation: the session must have proven a second factor recently (step-up). */
  stepUp?: boolean;
}

export function describePolicy(policy: RoutePolicy): string {
  return typeof policy === 'string' ? policy : policy.permission;
}

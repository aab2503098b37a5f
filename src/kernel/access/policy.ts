import type { Permission } from './catalog.ts';

/** What a route requires. `operator` is the platform operator's bearer token (/metrics). */
export type RoutePolicy = 'public' | 'operator' | { permission: Permission };

/**
 * Rate-limit classes: `auth` for credential endpoints, `export` for bulk downloads,
 * `health` for liveness/readiness probes (a budget of their own, so a client that
 * spent its budget cannot make readiness fail for everyone), `default` otherwise.
 */
export type BuiltInRateClass = 'default' | 'auth' | 'export' | 'health' | 'expensive';
/** A built-in class or one a module declares in its manifest (e.g. `ledger-write`). */
export type RateClass = BuiltInRateClass | (string & {});

/** A rate class a module introduces: requests per minute per client IP by default. */
export interface RateClassDeclaration {
  name: string;
  perMinute: number;
  description: string;
}

export interface RouteSecurity {
  policy: RoutePolicy;
  rateClass?: RateClass;
  /** A sensitive operation: the session must have proven a second factor recently (step-up). */
  stepUp?: boolean;
  /**
   * A WebSocket route's one-time tickets (RFC 6455 §4.1: a browser cannot set an
   * Authorization header on an upgrade): `?ticket=` is redeemed by this function to
   * the session it was issued for, or refused. Only upgrade requests may use it.
   */
  redeemTicket?: (ticket: string) => Promise<{ sid: string; tid: string; sub: string } | null>;
}

export function describePolicy(policy: RoutePolicy): string {
  return typeof policy === 'string' ? policy : policy.permission;
}

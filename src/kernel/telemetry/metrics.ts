import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** External (OIDC) bearer tokens refused, by reason code. */
  externalTokenRefusals: Counter<'reason'>;
  /** Auth-class requests refused with 429, by route template and reason (rate-limit, locked-out). */
  authThrottled: Counter<'route' | 'reason'>;
}

/** One registry per app instance; labels are route templates, never raw URLs or ids. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ocsuite_' });
  const httpDuration = new Histogram({
    name: 'ocsuite_http_request_duration_seconds',
    help: 'HTTP request duration by route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const externalTokenRefusals = new Counter({
    name: 'ocsuite_external_token_refusals_total',
    help: 'External OIDC tokens refused, by reason (unknown-issuer, signature, audience, client, expired, unmapped-organisation, unverified-email, …)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const authThrottled = new Counter({
    name: 'ocsuite_auth_throttled_total',
    help: 'Auth-class requests refused with 429, by route template and reason (rate-limit: the per-IP budget; locked-out: an account or IP lock after failures)',
    labelNames: ['route', 'reason'] as const,
    registers: [registry],
  });
  return { registry, httpDuration, externalTokenRefusals, authThrottled };
}

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from '../../db/client.ts';
import type { CheckpointLag } from '../audit/checkpoint-lag.ts';

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** External (OIDC) bearer tokens refused, by reason code. */
  externalTokenRefusals: Counter<'reason'>;
  /** Auth-class requests refused with 429, by route template and reason (rate-limit, locked-out). */
  authThrottled: Counter<'route' | 'reason'>;
  /** Requests answered 401 or 403, by route template, status and problem code. */
  authFailures: Counter<'route' | 'status' | 'code'>;
  /** Requests answered 429 (any rate class), by route template. */
  rateLimited: Counter<'route'>;
  /** Outbound webhook delivery attempts in this process, by result (succeeded, failed, dead). */
  webhookAttempts: Counter<'result'>;
  /** Webhook endpoints this process disabled after persistent delivery failure. */
  webhookEndpointsDisabled: Counter;
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
  const authFailures = new Counter({
    name: 'ocsuite_auth_failures_total',
    help: 'Requests refused with 401 or 403, by route template, status and problem code (unauthenticated, invalid-credentials, forbidden, …)',
    labelNames: ['route', 'status', 'code'] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'ocsuite_rate_limited_total',
    help: 'Requests refused with 429 (a rate class budget or a lock-out), by route template',
    labelNames: ['route'] as const,
    registers: [registry],
  });
  const webhookAttempts = new Counter({
    name: 'ocsuite_webhook_attempts_total',
    help: 'Outbound webhook delivery attempts by result: succeeded, failed (retried later), dead (the last scheduled attempt failed)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const webhookEndpointsDisabled = new Counter({
    name: 'ocsuite_webhook_endpoints_disabled_total',
    help: 'Webhook endpoints disabled after OCSUITE_WEBHOOK_DISABLE_AFTER dead deliveries in a row',
    registers: [registry],
  });
  // Present from the first scrape, so rate() and the alerts see a zero before the first event.
  for (const result of ['succeeded', 'failed', 'dead']) webhookAttempts.inc({ result }, 0);
  webhookEndpointsDisabled.inc(0);
  return { registry, httpDuration, externalTokenRefusals, authThrottled, authFailures, rateLimited, webhookAttempts, webhookEndpointsDisabled };
}

/** The connection pool as the driver sees it at scrape time. */
export function registerDbPoolMetrics(registry: Registry, db: Database): void {
  if (!db.poolStats) return;
  const stats = () => db.poolStats!();
  new Gauge({ name: 'ocsuite_db_pool_max', help: 'Connections the pool may open (OCSUITE_DB_POOL_MAX; 1 for PGlite)', registers: [registry], collect() { this.set(stats().max); } });
  new Gauge({ name: 'ocsuite_db_pool_connections', help: 'Open connections of the pool, by state (total, idle)', labelNames: ['state'], registers: [registry], collect() {
    const s = stats();
    this.set({ state: 'total' }, s.total);
    this.set({ state: 'idle' }, s.idle);
  } });
  new Gauge({ name: 'ocsuite_db_pool_waiting', help: 'Callers waiting for a connection', registers: [registry], collect() { this.set(stats().waiting); } });
}

/** How far signed audit checkpoints trail the logs (one maintenance query per scrape; no tenant labels). */
export function registerCheckpointLagMetrics(registry: Registry, read: () => Promise<CheckpointLag>): void {
  let last: Promise<CheckpointLag | undefined> | undefined;
  const current = () => (last ??= read().catch(() => undefined).finally(() => setTimeout(() => (last = undefined), 0)));
  new Gauge({ name: 'ocsuite_audit_checkpoint_lag_entries', help: 'Most audit entries of one log not yet covered by a signed checkpoint', registers: [registry], async collect() {
    const lag = await current();
    if (lag) this.set(lag.entries);
  } });
  new Gauge({ name: 'ocsuite_audit_checkpoint_lag_seconds', help: 'Age of the oldest audit entry not yet covered by a signed checkpoint (0 when all are)', registers: [registry], async collect() {
    const lag = await current();
    if (lag) this.set(lag.seconds);
  } });
}

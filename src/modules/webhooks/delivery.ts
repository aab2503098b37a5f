import { performance } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import { raiseAlert, newAlert } from '../../jobs/alerts.ts';
import { recordAuditEvent } from '../../kernel/audit/events.ts';
import { EgressFailedError, EgressRefusedError } from '../../kernel/egress/index.ts';
import type { JobInfo } from '../../kernel/jobs/port.ts';
import type { Platform } from '../../kernel/platform.ts';
import { signWebhook } from '../../kernel/webhooks/index.ts';
import { auditableUrl } from './endpoints-service.ts';
import { deliveryRefusal } from './entitlement.ts';
import { createWebhookPublisher } from './publish.ts';
import { DELIVERY_QUEUE, type DeliveryJob } from './queues.ts';
import { responseExcerpt } from './redact.ts';
import { delayBeforeAttempt, parseRetrySchedule } from './retry-schedule.ts';
import { openSecrets, sealedSecretColumns, type SealedSecrets } from './secrets.ts';

/** The whole exchange; a receiver should answer quickly and work later. */
const ATTEMPT_TIMEOUT_MS = 10_000;
/** A larger answer fails the attempt (too-large): a receiver has no reason to send much back. */
const MAX_RESPONSE_BYTES = 65_536;

interface Claimed extends SealedSecrets {
  url: string;
  endpoint_id: string;
  endpoint_status: 'enabled' | 'disabled';
  created_by: string | null;
  message_id: string;
  event_type: string;
  body: string;
}

interface Outcome {
  status: number | null;
  error: string | null;
  excerpt: string;
  latencyMs: number;
}

/**
 * One delivery attempt. It claims the attempt first (attempts = n, committed),
 * so a duplicate job for the same attempt does nothing and a crash after the
 * claim is retried by the sweep as the next attempt — a receiver may see a
 * message twice (Standard Webhooks: dedupe by webhook-id), never the sweep
 * sending in parallel with a live attempt. Then it signs and sends through the
 * egress guard (the address is checked again now: DNS may have changed since
 * the endpoint was registered), records the attempt, and schedules the next
 * one or marks the delivery succeeded or dead.
 */
export function createDeliveryHandler(platform: Platform) {
  const schedule = parseRetrySchedule(platform.config.webhookRetrySchedule);
  const publisher = createWebhookPublisher(platform);

  return async function deliver(job: JobInfo<DeliveryJob>): Promise<void> {
    const tenantId = job.tenantId!;
    const { deliveryId, attempt } = job.data;
    const ctx = { tenantId };
    const claimed = await platform.withTenant(ctx, async (tx) => {
      const [row] = await tx.query<Claimed>(sql`
        UPDATE webhook_deliveries d SET attempts = ${attempt}, updated_at = now(),
          next_attempt_at = now() + make_interval(secs => ${(delayBeforeAttempt(schedule, attempt + 1) ?? 0) + 120}::double precision)
        FROM webhook_endpoints e, webhook_messages m
        WHERE d.id = ${deliveryId} AND d.status = 'pending' AND d.attempts = ${attempt - 1}
          AND e.id = d.endpoint_id AND m.id = d.message_id
        RETURNING e.url, e.id AS endpoint_id, e.status AS endpoint_status, e.created_by, m.id AS message_id, m.event_type, m.body,
          ${sealedSecretColumns('e')}`);
      if (!row) return undefined;
      if (row.endpoint_status !== 'enabled') {
        // Disabled since it was queued: the message waits for a replay once the endpoint is enabled again.
        await tx.query(sql`UPDATE webhook_deliveries SET status = 'dead', next_attempt_at = NULL, attempts = ${attempt - 1} WHERE id = ${deliveryId}`);
        return undefined;
      }
      const secrets = await openSecrets(platform, tx, tenantId, 'webhook_endpoints', row.endpoint_id, row);
      return { row, secrets };
    });
    if (!claimed) return;
    const { row, secrets } = claimed;
    // Still entitled? (entitlement.ts: the type still offered, the creator still a member holding its permission.)
    const refusal = await deliveryRefusal(platform, tenantId, row.created_by, row.event_type);
    if (refusal) {
      await platform.withTenant(ctx, async (tx) => {
        await tx.query(sql`
          INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, latency_ms, response_status, response_body, error)
          VALUES (${tenantId}, ${deliveryId}, ${attempt}, 0, NULL, '', ${`not sent: ${refusal}`})
          ON CONFLICT (tenant_id, delivery_id, attempt) DO NOTHING`);
        await tx.query(sql`UPDATE webhook_deliveries SET status = 'dead', next_attempt_at = NULL, updated_at = now() WHERE id = ${deliveryId}`);
      });
      return;
    }

    const headers = deliveryHeaders(secrets, `msg_${row.message_id}`, Math.floor(Date.now() / 1000), row.body);
    const signatures = headers['webhook-signature'].split(' ').map((s) => s.slice(3));
    const outcome = await send(row.url, headers, row.body, secrets, signatures);

    const ok = outcome.status !== null && outcome.status >= 200 && outcome.status < 300;
    const nextDelay = ok ? undefined : delayBeforeAttempt(schedule, attempt + 1);
    const disabled = await platform.withTenant(ctx, async (tx) => {
      await tx.query(sql`
        INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, latency_ms, response_status, response_body, error)
        VALUES (${tenantId}, ${deliveryId}, ${attempt}, ${outcome.latencyMs}, ${outcome.status}, ${outcome.excerpt}, ${outcome.error})
        ON CONFLICT (tenant_id, delivery_id, attempt) DO NOTHING`);
      if (ok) {
        await tx.query(sql`UPDATE webhook_deliveries SET status = 'succeeded', last_status = ${outcome.status}, next_attempt_at = NULL, updated_at = now() WHERE id = ${deliveryId}`);
        await tx.query(sql`UPDATE webhook_endpoints SET consecutive_failures = 0, last_success_at = now() WHERE id = ${row.endpoint_id}`);
        return false;
      }
      if (nextDelay !== undefined) {
        await tx.query(sql`UPDATE webhook_deliveries SET last_status = ${outcome.status}, next_attempt_at = now() + make_interval(secs => ${nextDelay}::double precision), updated_at = now() WHERE id = ${deliveryId}`);
        await tx.query(sql`UPDATE webhook_endpoints SET last_failure_at = now() WHERE id = ${row.endpoint_id}`);
        return false;
      }
      // The last scheduled attempt failed: the delivery is dead (a dead letter of this module, replayable).
      await tx.query(sql`UPDATE webhook_deliveries SET status = 'dead', last_status = ${outcome.status}, next_attempt_at = NULL, updated_at = now() WHERE id = ${deliveryId}`);
      const [endpoint] = await tx.query<{ consecutive_failures: number; status: string }>(sql`
        UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1, last_failure_at = now(),
          status = CASE WHEN consecutive_failures + 1 >= ${platform.config.webhookDisableAfter} THEN 'disabled' ELSE status END,
          disabled_reason = CASE WHEN consecutive_failures + 1 >= ${platform.config.webhookDisableAfter} AND status = 'enabled'
            THEN 'persistent delivery failure' ELSE disabled_reason END
        WHERE id = ${row.endpoint_id}
        RETURNING consecutive_failures, status`);
      const justDisabled = endpoint?.status === 'disabled' && endpoint.consecutive_failures === platform.config.webhookDisableAfter;
      if (justDisabled) {
        await recordAuditEvent(tx, {
          tenantId, actor: { type: 'system', id: 'webhooks.delivery' }, action: 'webhook.endpoint.disabled',
          target: { type: 'webhook_endpoint', id: row.endpoint_id }, outcome: 'success',
          reason: `${endpoint.consecutive_failures} deliveries in a row failed every attempt`,
          metadata: { url: auditableUrl(row.url), consecutiveFailures: endpoint.consecutive_failures, lastStatus: outcome.status, lastError: outcome.error },
        });
      }
      return justDisabled;
    });

    platform.metrics.webhookAttempts.inc({ result: ok ? 'succeeded' : nextDelay !== undefined ? 'failed' : 'dead' });
    if (disabled) platform.metrics.webhookEndpointsDisabled.inc();
    if (nextDelay !== undefined) {
      await platform.jobs.send(DELIVERY_QUEUE.name, { deliveryId, attempt: attempt + 1 }, {
        tenantId, idempotencyKey: `${deliveryId}:${attempt + 1}`, ...(nextDelay > 0 ? { delaySeconds: nextDelay } : {}),
      });
    }
    if (disabled) {
      await raiseAlert({ jobs: platform.jobs, audit: platform, log: platform.log, target: alertTarget(platform) }, newAlert(
        'webhooks.endpoint_disabled', 'warning', 'a webhook endpoint was disabled after persistent delivery failure',
        { tenantId, endpointId: row.endpoint_id, queue: DELIVERY_QUEUE.name },
      ));
      // The tenant's other endpoints may want to know (an operator's n8n, a monitoring hook).
      await publisher.publish(tenantId, 'webhooks.endpoint.disabled', { endpointId: row.endpoint_id, url: auditableUrl(row.url), reason: 'persistent delivery failure' })
        .catch((err: unknown) => platform.log.warn({ err: { message: (err as Error).message } }, 'publishing webhooks.endpoint.disabled failed'));
    }
  };

  async function send(url: string, headers: Record<string, string>, body: string, secrets: readonly string[], signatures: readonly string[]): Promise<Outcome> {
    const started = performance.now();
    const elapsed = () => Math.max(0, Math.round(performance.now() - started));
    try {
      const res = await platform.egress.request(url, { method: 'POST', headers, body, timeoutMs: ATTEMPT_TIMEOUT_MS, maxResponseBytes: MAX_RESPONSE_BYTES });
      const redirect = res.status >= 300 && res.status < 400;
      return { status: res.status, error: redirect ? 'redirect not followed' : null, excerpt: responseExcerpt(res.body, secrets, signatures), latencyMs: elapsed() };
    } catch (err) {
      if (err instanceof EgressRefusedError) return { status: null, error: `refused: ${err.reason}`, excerpt: '', latencyMs: elapsed() };
      if (err instanceof EgressFailedError) return { status: null, error: `failed: ${err.reason}`, excerpt: '', latencyMs: elapsed() };
      throw err;
    }
  }
}

/** The headers of one attempt: one signature per live secret, space-separated (during a rotation either verifies). */
export function deliveryHeaders(secrets: readonly string[], msgId: string, timestamp: number, body: string): Record<string, string> & { 'webhook-signature': string } {
  const signatures = secrets.map((secret) => signWebhook({ secret, msgId, timestamp, body })['webhook-signature']);
  return {
    'content-type': 'application/json',
    'user-agent': 'OC-Suite-Webhooks/1',
    'webhook-id': msgId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatures.join(' '),
  };
}

const alertTarget = (platform: Platform) =>
  platform.config.alertWebhookUrl && platform.config.alertWebhookSecret ? { url: platform.config.alertWebhookUrl, secret: platform.config.alertWebhookSecret } : undefined;

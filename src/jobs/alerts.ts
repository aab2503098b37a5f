import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { recordAuditEventNow, type AuditTransactions } from '../kernel/audit/events.ts';
import type { Egress } from '../kernel/egress/index.ts';
import { signWebhook } from '../kernel/webhooks/index.ts';
import type { JobQueue, QueueDefinition } from '../kernel/jobs/port.ts';

/**
 * Alert events (seed 000 phase 3: "hook core logs/alerts into n8n alerts/*
 * workflows"): each is logged, recorded in the platform audit log, and POSTed
 * to OCSUITE_ALERT_WEBHOOK_URL signed per Standard Webhooks. Delivery is itself
 * a job, so a receiver that is down gets retries and, in the end, a dead letter.
 */
export interface AlertEvent {
  id: string;
  /** `jobs.failure_spike` */
  type: string;
  severity: 'warning' | 'critical';
  summary: string;
  occurredAt: string;
  details: Record<string, string | number | boolean | null>;
}

export const ALERT_QUEUE: QueueDefinition = {
  name: 'alerts.deliver',
  scope: 'platform',
  // 2, 4, 8 … 64 s: an alert is worth little an hour late.
  retryLimit: 6,
  retryDelaySeconds: 2,
  expireInSeconds: 30,
  maxDepth: 1_000,
  concurrency: 2,
};

export interface AlertTarget {
  url: string;
  secret: string;
}

export class AlertDeliveryError extends Error {
  readonly code = 'ERR_ALERT_DELIVERY';
}

/**
 * One signed POST through the kernel egress guard (docs/security/egress.md): the
 * operator's URL gets the same checks as a tenant's webhook (https unless the host
 * is in OCSUITE_EGRESS_ALLOW_HTTP_HOSTS, no private, loopback or metadata address
 * unless OCSUITE_EGRESS_ALLOW_CIDRS admits it, pinned connection, no redirects).
 * A refusal or a non-2xx answer is an error (the job retries, then dead-letters).
 */
export async function deliverAlert(egress: Egress, target: AlertTarget, alert: AlertEvent, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const body = JSON.stringify({ type: `alert.${alert.type}`, timestamp: alert.occurredAt, data: alert });
  // The alert id is the message id: a receiver drops a retried delivery it has already seen.
  const headers = signWebhook({ secret: target.secret, msgId: `alert_${alert.id}`, timestamp: Math.floor(Date.now() / 1000), body });
  const res = await egress.request(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'ocsuite-alerts', ...headers },
    body,
    timeoutMs: 10_000,
    maxResponseBytes: 65_536,
  });
  if (res.status < 200 || res.status >= 300) throw new AlertDeliveryError(`alert webhook answered ${res.status}`);
}

function parseAlert(data: unknown): AlertEvent {
  const a = data as Partial<AlertEvent> | null;
  if (!a || typeof a.id !== 'string' || typeof a.type !== 'string' || typeof a.summary !== 'string') throw new Error('not an alert event');
  return a as AlertEvent;
}

export async function registerAlertJobs(jobs: JobQueue, target: AlertTarget | undefined, egress: Egress): Promise<void> {
  await jobs.define(ALERT_QUEUE, async (job: { data: AlertEvent; signal: AbortSignal }) => {
    if (!target) return; // configured away since the alert was raised: nothing to deliver to
    await deliverAlert(egress, target, job.data, job.signal);
  }, { parse: parseAlert });
}

export interface RaiseDeps {
  jobs: JobQueue;
  audit: AuditTransactions;
  log: Logger;
  target: AlertTarget | undefined;
}

export function newAlert(type: string, severity: AlertEvent['severity'], summary: string, details: AlertEvent['details']): AlertEvent {
  return { id: randomUUID(), type, severity, summary, occurredAt: new Date().toISOString(), details };
}

/** Records and dispatches an alert; never throws (an alert path must not take the worker down). */
export async function raiseAlert(deps: RaiseDeps, alert: AlertEvent): Promise<void> {
  deps.log.error({ alert: { id: alert.id, type: alert.type, details: alert.details } }, `ALERT ${alert.summary}`);
  try {
    await recordAuditEventNow(deps.audit, {
      tenantId: null,
      actor: { type: 'system', id: 'jobs.monitor' },
      action: `alert.${alert.type.replace(/\./g, '_')}`,
      target: { type: 'queue', id: String(alert.details.queue ?? '') },
      outcome: 'failure',
      reason: alert.summary,
      metadata: { alertId: alert.id, severity: alert.severity, ...alert.details },
    });
  } catch (err) {
    deps.log.error({ err: { message: (err as Error).message } }, 'recording the alert in the audit log failed');
  }
  if (!deps.target) return;
  try {
    await deps.jobs.send(ALERT_QUEUE.name, alert, { idempotencyKey: alert.id });
  } catch (err) {
    deps.log.error({ err: { message: (err as Error).message } }, 'queueing the alert delivery failed');
  }
}

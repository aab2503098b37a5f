import type { FastifyInstance } from 'fastify';
import { recordAuditEventNow } from '../kernel/audit/events.ts';
import { emailHandle } from '../kernel/auth/email-handle.ts';
import { createThrottleSummary, type ThrottleReason } from '../kernel/limits/throttle-summary.ts';
import type { Platform } from '../kernel/platform.ts';
import { rateClassOf } from './rate-classes.ts';

/**
 * Every auth-class request refused with 429 is counted (ocsuite_auth_throttled_total)
 * and summarised in the platform audit log, one `auth.throttled` event per
 * client IP and per named account per window (kernel/limits/throttle-summary.ts).
 */
export function registerThrottleEvidence(app: FastifyInstance, platform: Platform): void {
  const summary = createThrottleSummary({
    windowMs: platform.config.throttleSummarySeconds * 1000,
    record: (s) => recordAuditEventNow(platform, {
      tenantId: null,
      actor: { type: 'system' },
      action: 'auth.throttled',
      target: s.subject,
      outcome: 'failure',
      reason: `${s.refusals} auth request(s) refused with 429 in this window`,
      metadata: { refusals: s.refusals, byReason: s.byReason, routes: s.routes, windowStart: s.windowStart.toISOString(), windowEnd: s.windowEnd.toISOString() },
    }),
    onError: (err) => platform.log.error({ err: (err as Error).message }, 'could not record a throttling summary'),
  });

  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode !== 429 || rateClassOf(req) !== 'auth') return payload;
    // The per-IP budget answers before the body is read; a lock answers from the handler.
    const reason: ThrottleReason = typeof payload === 'string' && payload.includes('"OCS_LOCKED_OUT"') ? 'locked-out' : 'rate-limit';
    const route = req.routeOptions.url ?? 'unrouted';
    platform.metrics.authThrottled.inc({ route, reason });
    summary.note({ type: 'ip', id: req.ip }, reason, route);
    const email = (req.body as { email?: unknown } | undefined)?.email;
    if (typeof email === 'string' && email.length <= 320) summary.note({ type: 'email', id: emailHandle(email) }, reason, route);
    return payload;
  });
  app.addHook('onClose', async () => summary.close());
}

import { createHmac } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { recordAuditEventNow } from '../../kernel/audit/events.ts';
import type { JobInfo, QueueDefinition, TenantHandler } from '../../kernel/jobs/port.ts';
import type { Platform } from '../../kernel/platform.ts';
import type { MemberSessionsEnded } from '../identity/member-signals.ts';
import { openIntegration } from './config-service.ts';

/** Waits on Discourse: not transactional (no transaction held over the network), idempotent (a second log_out is harmless). */
export const LOGOUT_QUEUE: QueueDefinition = {
  name: 'discourse.logout',
  scope: 'tenant',
  retryLimit: 5,
  retryDelaySeconds: 10,
  expireInSeconds: 60,
  maxDepth: 10_000,
  concurrency: 2,
  tenantConcurrency: 1,
  transactional: false,
};

export interface LogoutJob { userId: string; reason: MemberSessionsEnded['reason'] }

export function parseLogoutJob(data: unknown): LogoutJob {
  const d = data as Partial<LogoutJob> | null;
  if (!d || typeof d.userId !== 'string' || !/^[0-9a-f-]{36}$/i.test(d.userId) || (d.reason !== 'membership-removed' && d.reason !== 'admin-revoked')) {
    throw new Error('discourse.logout: malformed job');
  }
  return { userId: d.userId, reason: d.reason };
}

export const externalIdOf = (idKey: Buffer, userId: string) => createHmac('sha256', idKey).update(`user:${userId}`).digest('hex');

/** The identity hook (identity/member-signals.ts): enqueue only when the tenant configured logout sync. */
export async function enqueueLogout(platform: Platform, event: MemberSessionsEnded): Promise<void> {
  const [row] = await platform.queryAsTenant<{ sync: boolean }>({ tenantId: event.tenantId }, sql`SELECT api_key_sealed IS NOT NULL AS sync FROM discourse_integrations`);
  if (!row?.sync) return;
  await platform.jobs.send(LOGOUT_QUEUE.name, { userId: event.userId, reason: event.reason }, { tenantId: event.tenantId });
}

class DiscourseAnswerError extends Error {}

/**
 * Discourse's admin API: `GET /users/by-external/{external_id}.json` finds the
 * account, `POST /admin/users/{id}/log_out` ends its sessions. Every call goes
 * through the egress guard; a 404 on the lookup means the person never signed
 * in there (done); anything else unexpected throws and the queue retries.
 */
export function createLogoutHandler(platform: Platform): TenantHandler<LogoutJob> {
  return async (job: JobInfo<LogoutJob>, tx) => {
    const tenantId = job.tenantId!;
    const integration = await openIntegration(platform, tx, tenantId, true);
    if (!integration?.apiKey || !integration.apiUsername) return;
    const headers = { 'api-key': integration.apiKey, 'api-username': integration.apiUsername, accept: 'application/json' };
    const target = { type: 'user', id: job.data.userId };
    const audit = (outcome: 'success' | 'failure', reason: string | undefined, metadata: Record<string, unknown>) => recordAuditEventNow(platform, {
      tenantId, actor: { type: 'system', id: 'discourse-logout-sync' }, action: 'discourse.logout_synced', target, outcome,
      ...(reason ? { reason } : {}), metadata: { ...metadata, trigger: job.data.reason, attempt: job.attempt },
    });
    try {
      const externalId = externalIdOf(integration.idKey, job.data.userId);
      const lookup = await platform.egress.request(`${integration.origin}/users/by-external/${externalId}.json`, { method: 'GET', headers, timeoutMs: 10_000 });
      if (lookup.status === 404) {
        await audit('success', undefined, { discourseUser: null });
        return;
      }
      if (lookup.status !== 200) throw new DiscourseAnswerError(`user lookup answered ${lookup.status}`);
      const id = (JSON.parse(lookup.body.toString('utf8')) as { user?: { id?: unknown } }).user?.id;
      if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new DiscourseAnswerError('user lookup answered without a user id');
      const out = await platform.egress.request(`${integration.origin}/admin/users/${id}/log_out`, { method: 'POST', headers, timeoutMs: 10_000 });
      if (out.status < 200 || out.status >= 300) throw new DiscourseAnswerError(`log_out answered ${out.status}`);
      await audit('success', undefined, { discourseUser: id });
    } catch (err) {
      await audit('failure', err instanceof Error ? err.message.slice(0, 200) : 'failed', {});
      throw err;
    }
  };
}

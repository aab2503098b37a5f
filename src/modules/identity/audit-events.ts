/**
 * Audit events of identity flows that have no transaction of their own to
 * join (failed logins and second factors). They are recorded off the response
 * path — the caller does not wait, so recording adds no timing signal about
 * whether an account exists — and a failure to record is logged, never
 * turned into a different answer.
 */
import { emailHandle } from '../../kernel/auth/email-handle.ts';
import { sql } from 'drizzle-orm';
import { recordAuditEventNow, type AuditEventInput } from '../../kernel/audit/events.ts';
import { currentAuditRequest } from '../../kernel/audit/request-context.ts';
import { trackAuditWrite } from '../../kernel/audit/background.ts';
import type { Platform } from '../../kernel/platform.ts';
import type { ClientInfo } from './sessions.ts';

/** Which log a failed login of a known user belongs to: the chosen tenant, the only one, else the platform. */
async function tenantOfFailure(platform: Platform, userId: string, tenant: string | undefined): Promise<string | null> {
  const rows = await platform.withIdentity((tx) =>
    tx.query<{ tenant_id: string }>(sql`SELECT tenant_id FROM memberships WHERE user_id = ${userId} ORDER BY created_at LIMIT 50`));
  const ids = rows.map((r) => r.tenant_id);
  if (tenant !== undefined) return ids.includes(tenant.toLowerCase()) ? tenant.toLowerCase() : null;
  return ids.length === 1 ? ids[0]! : null;
}


export function auditLoginFailure(
  platform: Platform,
  input: { email: string; tenant?: string | undefined; userId?: string | undefined; reason: string; action?: string },
  client: ClientInfo,
): Promise<void> {
  const request = { ...currentAuditRequest(), ip: client.ip, ...(client.userAgent ? { userAgent: client.userAgent } : {}) };
  const task = (async () => {
    const tenantId = input.userId ? await tenantOfFailure(platform, input.userId, input.tenant) : null;
    const event: AuditEventInput = {
      tenantId,
      actor: input.userId ? { type: 'user', id: input.userId } : { type: 'system' },
      action: input.action ?? 'auth.login',
      target: input.userId ? { type: 'user', id: input.userId } : { type: 'email', id: emailHandle(input.email) },
      outcome: 'failure',
      reason: input.reason,
      request,
    };
    await recordAuditEventNow(platform, event);
  })().catch((err: unknown) => platform.log.error({ err: (err as Error).message }, 'could not record a failed login'));
  return trackAuditWrite(task);
}

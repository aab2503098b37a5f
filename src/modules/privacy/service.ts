import { sql } from 'drizzle-orm';
import { conflict, forbidden, notFound } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextWithPermissions, type Principal } from '../../kernel/auth/principal.ts';
import type { Platform, SubjectRef } from '../../kernel/platform.ts';
import { ACADEMY_POLICY_PERMISSIONS } from '../academy/service.ts';
import { ALLIANCES_POLICY_PERMISSIONS } from '../alliances/service.ts';
import { CHAT_SUBJECT_PERMISSIONS } from '../chat/manifest.ts';
import { pseudonymiseAccount } from '../identity/subject.ts';

/**
 * The permissions record-level policies consult (migration 0060): a request walks every module's
 * rows about the person, so its transaction carries all of them — held by the requester, or the
 * request is refused rather than answered with a partial archive.
 */
export const SUBJECT_POLICY_PERMISSIONS = [...ACADEMY_POLICY_PERMISSIONS, ...ALLIANCES_POLICY_PERMISSIONS, ...CHAT_SUBJECT_PERMISSIONS] as const;

/** A user id that names nobody: the subject of a request by address for a person without an account here. */
const NOBODY = '00000000-0000-0000-0000-000000000000';

interface Resolved { ref: SubjectRef; member: boolean; role: string | null }

/**
 * Data-subject requests (docs/privacy.md): one person's data across every module, exported as one
 * archive or erased, through the manifests' exportSubject / eraseSubject hooks, in one tenant
 * transaction each. Step-up and the `export` rate class are the routes'.
 */
export function createPrivacyService(platform: Platform) {
  function contextFor(principal: Principal) {
    const missing = SUBJECT_POLICY_PERMISSIONS.filter((p) => !principal.permissions.has(p));
    if (missing.length > 0) {
      throw forbidden(`A data-subject request reads every module's records: it needs ${missing.join(', ')} too.`);
    }
    return contextWithPermissions(principal, SUBJECT_POLICY_PERMISSIONS);
  }

  async function resolve(principal: Principal, input: { userId?: string; email?: string }): Promise<Resolved> {
    const [row] = await platform.queryAsTenant<{ user_id: string; email: string; role: string }>(contextFor(principal), sql`
      SELECT m.user_id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id
      WHERE ${input.userId !== undefined ? sql`m.user_id = ${input.userId}` : sql`u.email_normalized = lower(${input.email!})`}`);
    if (row) return { ref: { tenantId: principal.tenantId, userId: row.user_id, email: row.email }, member: true, role: row.role };
    // Another tenant's user, or nobody: a user id names no member here.
    if (input.userId !== undefined) throw notFound('member');
    return { ref: { tenantId: principal.tenantId, userId: NOBODY, email: input.email!.toLowerCase() }, member: false, role: null };
  }

  const subjectView = (s: Resolved) => ({ userId: s.member ? s.ref.userId : null, email: s.ref.email, member: s.member });

  return {
    async export(principal: Principal, input: { userId?: string; email?: string }) {
      const subject = await resolve(principal, input);
      // Gathered on the standby when there is one (DATABASE_READ_URL); the record is written on the
      // primary and commits before the archive leaves, so no export goes unrecorded.
      const modules = await platform.withTenantRead(contextFor(principal), async (tx) => {
        const out: Record<string, unknown> = {};
        for (const hook of platform.moduleHooks) {
          if (hook.exportSubject) out[hook.name] = await hook.exportSubject(tx, subject.ref);
        }
        return out;
      });
      await platform.withTenant(contextFor(principal), async (tx) => {
        const out = modules;
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'privacy.subject.exported', outcome: 'success',
          target: subject.member ? { type: 'user', id: subject.ref.userId } : { type: 'data_subject' },
          metadata: { modules: Object.keys(out), member: subject.member },
          // An address-only subject is named beside the log, never in it (erasing them later deletes it).
          ...(subject.member ? {} : { personal: { fields: { email: subject.ref.email }, email: subject.ref.email } }),
        });
      });
      return { format: 'ocsuite.dsar.v1' as const, tenantId: principal.tenantId, subject: subjectView(subject), exportedAt: new Date().toISOString(), modules };
    },

    async erase(principal: Principal, input: { userId?: string; email?: string }) {
      const subject = await resolve(principal, input);
      if (subject.member && subject.ref.userId === principal.userId) throw conflict('You cannot erase yourself; another administrator can.');
      if (subject.role === 'owner') throw conflict('An owner is erased only after leaving the owner role (transfer ownership first).');
      const modules = await platform.withTenant(contextFor(principal), async (tx) => {
        const counts: Record<string, Record<string, number>> = {};
        for (const hook of platform.moduleHooks) {
          if (!hook.eraseSubject) continue;
          const result = await hook.eraseSubject(tx, subject.ref);
          counts[hook.name] = result ?? {};
        }
        const total = Object.values(counts).reduce((n, c) => n + Object.values(c).reduce((a, b) => a + b, 0), 0);
        // The leaf names no one: the user id (a pseudonym once the account is erased) or nothing, and counts.
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'privacy.subject.erased', outcome: 'success',
          target: subject.member ? { type: 'user', id: subject.ref.userId } : { type: 'data_subject' },
          metadata: { member: subject.member, rows: total, modules: Object.fromEntries(Object.entries(counts).map(([m, c]) => [m, Object.values(c).reduce((a, b) => a + b, 0)])) },
        });
        return counts;
      });
      const accountPseudonymised = subject.member ? await pseudonymiseAccount(platform, subject.ref.userId) : false;
      return {
        tenantId: principal.tenantId,
        subject: { userId: subject.member ? subject.ref.userId : null, member: subject.member },
        erasedAt: new Date().toISOString(),
        modules,
        accountPseudonymised,
      };
    },
  };
}

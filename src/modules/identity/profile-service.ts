import { sql } from 'drizzle-orm';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { KernelError } from '../../kernel/errors.ts';
import type { Platform } from '../../kernel/platform.ts';

export const DISPLAY_NAME_MAX = 120;

/**
 * Characters a name shown to other members must not hold: C0/C1 controls (NUL included; they
 * break logs, CSV and terminals), line/paragraph separators, and bidirectional overrides and
 * isolates (they make a name read as something else, e.g. reversed text in an admin's list).
 */
const REFUSED = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** The stored form of a display name, or a validation-failed error that says what is wrong. */
export function normalizeDisplayName(input: string | null): string | null {
  if (input === null) return null;
  const name = input.normalize('NFC').trim();
  if (name.length === 0) throw new KernelError('validation-failed', 'The display name is empty; send null to clear it.');
  if ([...name].length > DISPLAY_NAME_MAX) throw new KernelError('validation-failed', `The display name is longer than ${DISPLAY_NAME_MAX} characters.`);
  if (REFUSED.test(name)) throw new KernelError('validation-failed', 'The display name holds a control, line-separator or bidirectional-override character.');
  return name;
}

/** The signed-in user's own profile (an account, shared by every tenant the person belongs to). */
export function createProfileService(platform: Platform) {
  return {
    async setDisplayName(principal: Principal, input: string | null): Promise<string | null> {
      // A machine credential has no person behind it to name.
      if (principal.kind !== 'user' || !principal.userId) throw new KernelError('forbidden', 'Only a signed-in user has a display name.');
      const name = normalizeDisplayName(input);
      const userId = principal.userId;
      // The identity role owns `users` (the runtime role only reads it); the event goes to the tenant the user acts in.
      await platform.withIdentity(async (tx) => {
        const [before] = await tx.query<{ display_name: string | null }>(sql`SELECT display_name FROM users WHERE id = ${userId} FOR UPDATE`);
        if (!before) throw new KernelError('not-found', 'No such user.');
        if (before.display_name === name) return;
        await tx.query(sql`UPDATE users SET display_name = ${name}, updated_at = now() WHERE id = ${userId}`);
        // The name itself stays out of the append-only log (personal data); the event says that it changed.
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'user.display_name_changed',
          target: { type: 'user', id: userId }, outcome: 'success', metadata: { cleared: name === null, hadName: before.display_name !== null },
        });
      }, contextOf(principal));
      return name;
    },
  };
}

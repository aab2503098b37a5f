import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { recordAuditEvent } from '../../kernel/audit/events.ts';
import type { Platform } from '../../kernel/platform.ts';
import { startSession, type ClientInfo, type IssuedTokens } from './sessions.ts';

/**
 * Creates a tenant with the user as its owner and signs them in, in the
 * caller's identity transaction. Every signup path ends here, and only after
 * every factor the account has was proved.
 */
export async function openTenant(
  tx: Session,
  platform: Platform,
  input: { tenantName: string; user: { id: string; email: string }; newAccount: boolean },
  client: ClientInfo,
  opts: { mfa?: boolean } = {},
): Promise<IssuedTokens> {
  const [tenant] = await tx.query<{ id: string; name: string }>(sql`INSERT INTO tenants (name) VALUES (${input.tenantName}) RETURNING id, name`);
  await tx.query(sql`INSERT INTO memberships (tenant_id, user_id, role) VALUES (${tenant!.id}, ${input.user.id}, 'owner')`);
  const issued = await startSession(tx, platform, { tenant: tenant!, user: input.user, role: 'owner' }, client, opts);
  await recordAuditEvent(tx, {
    tenantId: tenant!.id, actor: { type: 'user', id: input.user.id }, action: 'auth.signup', target: { type: 'tenant', id: tenant!.id },
    outcome: 'success', metadata: { newAccount: input.newAccount },
  });
  return issued;
}

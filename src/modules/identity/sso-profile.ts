import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';

/** What a single-sign-on provider may tell a relying party about a member (never the password, never roles). */
export interface SsoProfile {
  email: string;
  emailVerified: boolean;
  displayName: string | null;
  /** The tenant requires a second factor of its admins (an SSO provider requires it of privileged people). */
  tenantRequiresMfa: boolean;
}

/** The member's profile, read in the caller's tenant transaction (RLS); undefined when not a member. */
export async function ssoProfileOf(tx: Session, userId: string): Promise<SsoProfile | undefined> {
  const [row] = await tx.query<{ email: string; verified: boolean; display_name: string | null; mfa_required: boolean }>(sql`
    SELECT u.email, u.email_verified_at IS NOT NULL AS verified, u.display_name, t.mfa_required_for_admins AS mfa_required
    FROM memberships m JOIN users u ON u.id = m.user_id JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = ${userId}`);
  if (!row) return undefined;
  return {
    email: row.email, emailVerified: row.verified, displayName: row.display_name,
    tenantRequiresMfa: row.mfa_required,
  };
}

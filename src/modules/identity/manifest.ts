import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { identityRoutes } from './routes.ts';
import { eraseIdentitySubject, exportIdentitySubject } from './subject.ts';

/**
 * Identity: accounts, sessions, MFA, API keys, members and invitations. The
 * kernel's authenticator (kernel/auth) reads sessions, memberships and API keys
 * on the request path; everything else goes through this module's services.
 */
export const identityModule = defineModule({
  name: 'identity',
  description: 'Accounts, sessions, second factors, API keys, members and invitations',
  api: { prefix: '', plugin: identityRoutes },
  permissions: [
    { key: 'members:read', description: 'List the members of the tenant and their roles', grantedTo: ['viewer', 'member', 'admin'] },
    { key: 'members:manage', description: "Change members' roles, end their sessions and remove them (never beyond one's own permissions)", grantedTo: ['admin'] },
    { key: 'invitations:manage', description: 'Invite people, list and revoke invitations', grantedTo: ['admin'] },
    { key: 'apikeys:manage', description: 'Create and revoke machine credentials of the tenant (scopes never beyond one\'s own)', grantedTo: ['admin'] },
    { key: 'tenant:manage', description: 'Tenant-wide security settings, such as requiring a second factor of admins', grantedTo: [] },
  ],
  tables: [
    { name: 'users', onTenantErasure: { retain: 'accounts are not per tenant: a person may belong to other tenants' } },
    { name: 'memberships', onTenantErasure: 'erase' },
    { name: 'sessions', onTenantErasure: 'erase' },
    { name: 'refresh_tokens', onTenantErasure: 'erase' },
    { name: 'invitations', onTenantErasure: 'erase' },
    { name: 'api_keys', onTenantErasure: 'erase' },
    { name: 'mfa_tickets', onTenantErasure: 'erase' },
    { name: 'external_tenants', onTenantErasure: 'erase' },
    { name: 'external_identities', onTenantErasure: { retain: 'links an external subject to an account, not to a tenant' } },
    { name: 'user_mfa', onTenantErasure: { retain: 'a second factor belongs to the account, not to a tenant' } },
    { name: 'mfa_recovery_codes', onTenantErasure: { retain: 'belong to the account' } },
    { name: 'user_tokens', onTenantErasure: { retain: 'single-use account tokens (reset, verification) that expire' } },
    { name: 'auth_throttle', onTenantErasure: { retain: 'throttle counters keyed by account and IP, pruned by time' } },
    { name: 'signing_keys', onTenantErasure: { retain: 'the platform\'s token signing keys' } },
  ],
  auditEvents: [
    'auth.signup', 'auth.login', 'auth.throttled', 'auth.logout', 'auth.mfa_verified', 'auth.password_reset', 'session.revoked',
    'member.role_changed', 'member.removed', 'member.left', 'invitation.created', 'invitation.accepted', 'invitation.revoked',
    'apikey.created', 'apikey.revoked', 'mfa.enabled', 'mfa.disabled', 'mfa.recovery_codes_replaced', 'tenant.mfa_policy_changed',
    'user.display_name_changed',
  ],
  async eraseTenant(tx, tenantId) {
    const counts: Record<string, number> = {};
    // Children before parents; memberships last (their custom-role assignments go with them).
    for (const table of ['refresh_tokens', 'sessions', 'mfa_tickets', 'api_keys', 'invitations', 'external_tenants', 'memberships'] as const) {
      counts[table] = (await tx.query(sql`DELETE FROM ${sql.identifier(table)} WHERE tenant_id = ${tenantId} RETURNING tenant_id`)).length;
    }
    return counts;
  },
  exportSubject: exportIdentitySubject,
  // The tenant's rows; the account itself is pseudonymised by the privacy module once no membership is left.
  eraseSubject: eraseIdentitySubject,
});

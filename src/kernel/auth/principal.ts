import type { BuiltInRole, Permission } from '../access/catalog.ts';

/** Who is calling, derived only from a verified credential. */
export interface Principal {
  /** `user`: a person (built-in or external OIDC token); `api_key`: a machine. */
  kind: 'user' | 'api_key';
  /** The acting user; null for an API key. */
  userId: string | null;
  /** The API key; null for a user. */
  keyId: string | null;
  tenantId: string;
  /** The built-in role the principal holds (at most one for a member; none for an API key or a member with only custom roles). */
  roles: BuiltInRole[];
  /** The built-in session (`sid`); null for API keys and external tokens. */
  sessionId: string | null;
  permissions: Set<Permission>;
  /** When this session last proved a second factor (step-up); null if never. */
  mfaAt: Date | null;
}

/** The transaction context of a principal: its tenant, and its user when there is one. */
export const contextOf = (p: Principal) => ({ tenantId: p.tenantId, userId: p.userId ?? undefined });

/**
 * The transaction context with the permissions that record-level RLS policies consult
 * (`ocsuite_holds(…)`, migration 0060): of `consulted`, those the principal holds. The one
 * way `app.permissions` gets set: from the resolved principal (its roles, or an API key's
 * narrowed scopes), never from anything the client sends. A policy checking a permission
 * nobody passed here sees it as not held — it fails closed.
 */
export const contextWithPermissions = (p: Principal, consulted: readonly Permission[]) => ({
  ...contextOf(p),
  permissions: consulted.filter((key) => p.permissions.has(key)),
});

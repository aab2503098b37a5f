/**
 * Roles and what they may do. A route declares one permission (or `public`);
 * a principal's roles expand to permissions here and nowhere else.
 */
export const ROLES = ['viewer', 'member', 'admin', 'owner'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'session', // any authenticated principal acting on itself (me, logout)
  'knowledge:read',
  'knowledge:write',
  'knowledge:delete',
  'members:read',
  'members:manage',
  'invitations:manage',
  'audit:read', // audit events, checkpoints and proofs of the own tenant
  'audit:export', // audit event downloads (JSON Lines, CSV)
  'apikeys:manage', // machine credentials of the tenant
  'tenant:manage', // tenant-wide security settings (MFA policy)
  'connectors:read', // third-party credentials: metadata, fingerprint and last four only
  'connectors:manage', // store, rotate and delete third-party credentials (write-only secrets)
  'tenant:delete', // delete the tenant: crypto-shreds its secrets (owners only)
  'jobs:manage', // the tenant's failed background jobs: list, retry, discard dead letters
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const grants: Record<Role, readonly Permission[]> = {
  viewer: ['session', 'knowledge:read', 'members:read'],
  member: ['session', 'knowledge:read', 'knowledge:write', 'members:read'],
  admin: ['session', 'knowledge:read', 'knowledge:write', 'knowledge:delete', 'members:read', 'members:manage', 'invitations:manage', 'audit:read', 'audit:export', 'apikeys:manage', 'connectors:read', 'connectors:manage', 'jobs:manage'],
  owner: ['session', 'knowledge:read', 'knowledge:write', 'knowledge:delete', 'members:read', 'members:manage', 'invitations:manage', 'audit:read', 'audit:export', 'apikeys:manage', 'tenant:manage', 'connectors:read', 'connectors:manage', 'tenant:delete', 'jobs:manage'],
};

export function isPermission(value: unknown): value is Permission {
  return typeof value === 'string' && (PERMISSIONS as readonly string[]).includes(value);
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function permissionsOf(roles: readonly Role[]): Set<Permission> {
  return new Set(roles.flatMap((r) => grants[r] ?? []));
}

/** The role hierarchy: a higher rank includes everything below it. */
export function rankOf(role: Role): number {
  return ROLES.indexOf(role);
}

export function highestRank(roles: readonly Role[]): number {
  return Math.max(-1, ...roles.map(rankOf));
}

import type { Permission, Role } from '../access/permissions.ts';

/** Who is calling, derived only from a verified credential. */
export interface Principal {
  kind: 'user';
  userId: string;
  tenantId: string;
  roles: Role[];
  sessionId: string;
  permissions: Set<Permission>;
}

import { KernelError } from '../errors.ts';
import { highestRank, rankOf, type BuiltInRole as Role } from './catalog.ts';

/**
 * Role-assignment rules (no escalation): nobody grants a role above their own,
 * and only an owner changes or removes an owner. The database separately refuses
 * to remove a tenant's last owner (memberships_keep_an_owner).
 */
export function assertMayAssign(actorRoles: readonly Role[], targetCurrent: Role | null, targetNext: Role | null): void {
  const actor = highestRank(actorRoles);
  if (targetNext !== null && rankOf(targetNext) > actor) {
    throw new KernelError('role-escalation', `You cannot grant the ${targetNext} role, which is above your own.`);
  }
  if (targetCurrent !== null && rankOf(targetCurrent) > actor) {
    throw new KernelError('role-escalation', `You cannot change a member whose role (${targetCurrent}) is above your own.`);
  }
  if (targetCurrent === 'owner' && actor < rankOf('owner')) {
    throw new KernelError('role-escalation', 'Only an owner can change or remove an owner.');
  }
}

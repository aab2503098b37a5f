/**
 * The permission catalogue: every permission a route may require, declared by
 * the module that introduces it (its manifest), with a description a tenant
 * admin reads when building a custom role. Built-in roles get their defaults
 * from the declarations (`grantedTo`); an owner holds every permission.
 * `session` — any signed-in user acting on themselves — is the kernel's own,
 * held by every user and by no API key or custom role.
 */
export const BUILT_IN_ROLES = ['viewer', 'member', 'admin', 'owner'] as const;
export type BuiltInRole = (typeof BUILT_IN_ROLES)[number];

/** A permission key: `area:action`, lower case (e.g. `ledger:write`). */
export type Permission = string;

export const SESSION_PERMISSION = 'session';

export interface PermissionDeclaration {
  key: Permission;
  description: string;
  /** Built-in roles below owner that hold it by default (owners hold every permission). */
  grantedTo: readonly Exclude<BuiltInRole, 'owner'>[];
}

export interface CatalogEntry {
  key: Permission;
  description: string;
  module: string;
  grantedTo: readonly BuiltInRole[];
}

const KEY = /^[a-z][a-z0-9-]{0,39}:[a-z][a-z0-9-]{0,39}$/;

export class CatalogError extends Error {
  readonly code = 'ERR_PERMISSION_CATALOG';
}

export class PermissionCatalog {
  readonly #entries = new Map<Permission, CatalogEntry>();
  readonly #builtIn = new Map<BuiltInRole, ReadonlySet<Permission>>();

  constructor(modules: ReadonlyArray<{ name: string; permissions: readonly PermissionDeclaration[] }>) {
    for (const m of modules) {
      for (const p of m.permissions) {
        if (!KEY.test(p.key)) throw new CatalogError(`module ${m.name}: permission "${p.key}" is not of the form area:action`);
        const clash = this.#entries.get(p.key);
        if (clash) throw new CatalogError(`permission ${p.key} is declared by both ${clash.module} and ${m.name}`);
        if (!p.description.trim()) throw new CatalogError(`module ${m.name}: permission ${p.key} needs a description`);
        for (const r of p.grantedTo) {
          if (!(BUILT_IN_ROLES as readonly string[]).includes(r) || (r as string) === 'owner') throw new CatalogError(`module ${m.name}: ${p.key} is granted to unknown role "${r}"`);
        }
        this.#entries.set(p.key, { key: p.key, description: p.description, module: m.name, grantedTo: [...p.grantedTo, 'owner'] });
      }
    }
    for (const role of BUILT_IN_ROLES) {
      const held = new Set<Permission>([SESSION_PERMISSION]);
      for (const e of this.#entries.values()) if (e.grantedTo.includes(role)) held.add(e.key);
      this.#builtIn.set(role, held);
    }
  }

  /** A permission a route, a custom role or an API key scope may name (never `session`). */
  has(key: unknown): key is Permission {
    return typeof key === 'string' && this.#entries.has(key);
  }

  entries(): CatalogEntry[] {
    return [...this.#entries.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Permissions of built-in roles plus those of custom roles (each a list of keys); `session` for any user. */
  permissionsOf(builtIn: readonly BuiltInRole[], custom: ReadonlyArray<readonly string[]> = []): Set<Permission> {
    const out = new Set<Permission>([SESSION_PERMISSION]);
    for (const r of builtIn) for (const p of this.#builtIn.get(r) ?? []) out.add(p);
    // A custom role's stored keys are filtered: a permission whose module is gone grants nothing.
    for (const keys of custom) for (const p of keys) if (this.#entries.has(p)) out.add(p);
    return out;
  }

  /** What a built-in role holds by default. */
  grantsOf(role: BuiltInRole): ReadonlySet<Permission> {
    return this.#builtIn.get(role)!;
  }

  /**
   * Administrative permissions: those the built-in member role does not hold.
   * Whoever holds one counts as an admin for the tenant's MFA requirement.
   */
  isPrivileged(permissions: ReadonlySet<Permission>): boolean {
    const member = this.#builtIn.get('member')!;
    for (const p of permissions) if (!member.has(p)) return true;
    return false;
  }
}

export function isBuiltInRole(value: unknown): value is BuiltInRole {
  return typeof value === 'string' && (BUILT_IN_ROLES as readonly string[]).includes(value);
}

/** The role hierarchy of the built-in roles: a higher rank includes everything below it. */
export function rankOf(role: BuiltInRole): number {
  return BUILT_IN_ROLES.indexOf(role);
}

export function highestRank(roles: readonly BuiltInRole[]): number {
  return Math.max(-1, ...roles.map(rankOf));
}

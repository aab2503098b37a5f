import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;

/** A permission key as the catalogue spells it (`area:action`); unknown keys are refused by the service. */
const PermissionKey = Type.String({ minLength: 3, maxLength: 81, pattern: '^[a-z][a-z0-9-]*:[a-z][a-z0-9-]*$' });
const RoleName = Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9][A-Za-z0-9 _.-]*$' });

export const RoleParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);
export const MemberParams = Type.Object({ userId: Type.String({ format: 'uuid' }) }, strict);

export const CreateRole = Type.Object({
  name: RoleName,
  description: Type.Optional(Type.String({ maxLength: 500 })),
  permissions: Type.Array(PermissionKey, { minItems: 1, maxItems: 200, uniqueItems: true }),
}, strict);

export const UpdateRole = Type.Object({
  name: Type.Optional(RoleName),
  description: Type.Optional(Type.String({ maxLength: 500 })),
  permissions: Type.Optional(Type.Array(PermissionKey, { minItems: 1, maxItems: 200, uniqueItems: true })),
}, { ...strict, minProperties: 1 });

/** A member's whole role set: at most one built-in role (by name) and custom roles (by id). */
export const MemberRoles = Type.Object({
  roles: Type.Array(Type.String({ minLength: 1, maxLength: 63 }), { minItems: 1, maxItems: 50, uniqueItems: true }),
}, strict);

export const Role = Type.Object({
  /** The role's id; for a built-in role, its name. */
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  builtIn: Type.Boolean(),
  permissions: Type.Array(Type.String()),
  members: Type.Integer(),
  createdAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  updatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export const RoleList = Type.Object({ items: Type.Array(Role) });

export const RoleRef = Type.Object({ id: Type.String(), name: Type.String(), builtIn: Type.Boolean() });
export const MemberRoleSet = Type.Object({
  userId: Type.String(),
  roles: Type.Array(RoleRef),
  permissions: Type.Array(Type.String()),
});

export const PermissionList = Type.Object({
  items: Type.Array(Type.Object({
    key: Type.String(),
    description: Type.String(),
    module: Type.String(),
    grantedTo: Type.Array(Type.String()),
  })),
});

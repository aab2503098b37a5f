import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import * as S from './schemas.ts';
import { createRolesService } from './service.ts';

/**
 * Roles: the permission catalogue, tenant-defined roles and members' role sets.
 * Reading is for anyone who may read the member list; defining roles needs
 * `roles:manage`, assigning them `members:manage` — and neither ever hands out
 * a permission the caller does not hold.
 */
export const rolesRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const roles = createRolesService(platform, (ids) => ids.forEach((sid) => app.forgetSession(sid)));
  const tags = ['roles'];

  app.get('/permissions', {
    config: { security: { policy: { permission: 'members:read' } } },
    schema: { tags, operationId: 'rolesListPermissions', summary: 'The permission catalogue: every permission a role or API key can hold', response: { 200: S.PermissionList } },
  }, async () => roles.catalogue());

  app.get('/roles', {
    config: { security: { policy: { permission: 'members:read' } } },
    schema: { tags, operationId: 'rolesListRoles', summary: 'Built-in and custom roles of the tenant, with their permissions', response: { 200: S.RoleList } },
  }, async (req) => roles.list(principalOf(req)));

  app.post('/roles', {
    config: { security: { policy: { permission: 'roles:manage' } }, problems: [409] },
    schema: { tags, operationId: 'rolesCreateRole', summary: 'Define a custom role from permissions the caller holds', body: S.CreateRole, response: { 201: S.Role } },
  }, async (req, reply) => reply.code(201).send(await roles.create(principalOf(req), req.body)));

  app.get('/roles/:id', {
    config: { security: { policy: { permission: 'members:read' } }, problems: [404] },
    schema: { tags, operationId: 'rolesGetRole', summary: 'One custom role', params: S.RoleParams, response: { 200: S.Role } },
  }, async (req) => roles.get(principalOf(req), req.params.id));

  app.patch('/roles/:id', {
    config: { security: { policy: { permission: 'roles:manage' } }, problems: [404, 409] },
    schema: { tags, operationId: 'rolesUpdateRole', summary: 'Rename a custom role or change its permissions', params: S.RoleParams, body: S.UpdateRole, response: { 200: S.Role } },
  }, async (req) => roles.update(principalOf(req), req.params.id, req.body));

  app.delete('/roles/:id', {
    config: { security: { policy: { permission: 'roles:manage' } }, problems: [404, 409] },
    schema: { tags, operationId: 'rolesDeleteRole', summary: 'Delete a custom role no member holds', params: S.RoleParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await roles.remove(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.get('/members/:userId/roles', {
    config: { security: { policy: { permission: 'members:read' } }, problems: [404] },
    schema: { tags, operationId: 'rolesGetMemberRoles', summary: 'A member\'s roles and the permissions they add up to', params: S.MemberParams, response: { 200: S.MemberRoleSet } },
  }, async (req) => roles.memberRoles(principalOf(req), req.params.userId));

  app.put('/members/:userId/roles', {
    config: { security: { policy: { permission: 'members:manage' } }, problems: [404, 409] },
    schema: {
      tags, operationId: 'rolesSetMemberRoles', summary: 'Replace a member\'s roles: at most one built-in role and any custom roles',
      params: S.MemberParams, body: S.MemberRoles, response: { 200: S.MemberRoleSet },
    },
  }, async (req) => roles.setMemberRoles(principalOf(req), req.params.userId, req.body.roles));
};

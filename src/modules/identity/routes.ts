import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { ProblemError } from '../../http/problem.ts';
import { OPAQUE_TOKEN_PATTERN } from '../../kernel/auth/opaque-token.ts';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createSignupService } from './signup-service.ts';
import { createAuthService } from './auth-service.ts';
import { createInvitationsService } from './invitations-service.ts';
import { createMembersService } from './members-service.ts';
import { createProfileService } from './profile-service.ts';
import * as S from './schemas.ts';
import { apiKeyRoutes } from './api-keys-routes.ts';
import { mfaRoutes } from './mfa-routes.ts';
import { recoveryRoutes } from './recovery-routes.ts';
import { sessionRoutes } from './session-routes.ts';
import { assertSameOrigin, clearRefreshCookie, deliverTokens, readRefreshCookie, wantsCookie } from './refresh-cookie.ts';

const clientOf = (r: FastifyRequest) => ({ userAgent: r.headers['user-agent'], ip: r.ip });
const NoContent = { 204: Type.Null() };
const OPAQUE_TOKEN = new RegExp(OPAQUE_TOKEN_PATTERN);

/** Identity: signup, login, refresh, logout, me, members and invitations. */
export const identityRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const auth = createAuthService(platform, (id) => app.forgetSession(id));
  const signup = createSignupService(platform);
  const members = createMembersService(platform, (ids) => ids.forEach((id) => app.forgetSession(id)));
  const invitations = createInvitationsService(platform);
  const profile = createProfileService(platform);
  const { publicUrl, refreshTokenTtlSeconds: cookieAge } = platform.config;
  // Cookie mode (refresh-cookie.ts) is refused before any credential is checked when the origin is foreign.
  const checkCookieMode = (req: FastifyRequest) => {
    if (wantsCookie(req)) assertSameOrigin(req, publicUrl);
  };
  await app.register(mfaRoutes, { platform });
  await app.register(apiKeyRoutes, { platform });
  await app.register(sessionRoutes, { platform });
  await app.register(recoveryRoutes, { platform });

  // 201 with tokens at once (OCSUITE_SIGNUP_CONFIRMATION=none), or 202 alike for every address (email).
  app.post('/auth/signup', {
    config: { security: { policy: 'public', rateClass: 'auth' }, problems: [401, 403, 409] },
    schema: { tags: ['identity'], operationId: 'identitySignup', summary: 'Open a tenant with a new or existing account (at once, or by a mailed link)', body: S.SignupBody, response: { 201: S.LoginResult, 202: S.SignupPending } },
  }, async (req, reply) => {
    const result = await signup.signup(req.body, clientOf(req));
    return reply.code('status' in result ? 202 : 201).send(result);
  });

  app.post('/auth/signup/confirm', {
    config: { security: { policy: 'public', rateClass: 'auth' }, problems: [401, 403, 409] },
    schema: { tags: ['identity'], operationId: 'identityConfirmSignup', summary: 'Complete a signup with the mailed link\'s token', body: S.SignupConfirmBody, response: { 201: S.LoginResult } },
  }, async (req, reply) => reply.code(201).send(await signup.confirm(req.body, clientOf(req))));

  app.post('/auth/login', {
    config: { security: { policy: 'public', rateClass: 'auth' }, problems: [401, 403] },
    schema: { tags: ['identity'], operationId: 'identityLogin', summary: 'Log in with email and password (may ask for a second factor)', body: S.LoginBody, response: { 200: S.LoginResult } },
  }, async (req, reply) => {
    checkCookieMode(req);
    return deliverTokens(req, reply, await auth.login(req.body, clientOf(req)), cookieAge);
  });

  app.post('/auth/mfa/verify', {
    config: { security: { policy: 'public', rateClass: 'auth' }, problems: [401] },
    schema: { tags: ['identity'], operationId: 'identityVerifyMfa', summary: 'Complete a login with a TOTP or recovery code', body: S.MfaVerifyBody, response: { 200: S.TokenPair } },
  }, async (req, reply) => {
    checkCookieMode(req);
    return deliverTokens(req, reply, await auth.verifyMfa(req.body, clientOf(req)), cookieAge);
  });

  app.post('/auth/refresh', {
    config: { security: { policy: 'public', rateClass: 'auth' }, problems: [401, 403, 409] },
    schema: { tags: ['identity'], operationId: 'identityRefresh', summary: 'Rotate a refresh token (body, or the console\'s cookie) for a new token pair', body: S.RefreshBody, response: { 200: S.TokenPair } },
  }, async (req, reply) => {
    checkCookieMode(req);
    const token = req.body.refreshToken ?? (wantsCookie(req) ? readRefreshCookie(req) : undefined);
    if (token === undefined || !OPAQUE_TOKEN.test(token)) throw new ProblemError('invalid-token', 401, 'The refresh token is invalid, expired or already used.');
    return deliverTokens(req, reply, await auth.refresh(token), cookieAge);
  });

  app.post('/auth/logout', {
    config: { security: { policy: { permission: 'session' } } },
    schema: { tags: ['identity'], operationId: 'identityLogout', summary: 'End the current session', response: NoContent },
  }, async (req, reply) => {
    const principal = principalOf(req);
    await auth.logout(principal);
    if (principal.sessionId) app.forgetSession(principal.sessionId);
    // The cookie is not sent here (its Path is the refresh route) but can still be expired from here.
    if (wantsCookie(req)) clearRefreshCookie(reply);
    return reply.code(204).send(null);
  });

  app.get('/me', {
    config: { security: { policy: { permission: 'session' } }, problems: [404] },
    schema: { tags: ['identity'], operationId: 'identityGetMe', summary: 'The caller: user, tenant, roles and permissions', response: { 200: S.Me } },
  }, async (req) => auth.me(principalOf(req)));

  app.patch('/me', {
    config: { security: { policy: { permission: 'session' } }, problems: [404] },
    schema: { tags: ['identity'], operationId: 'identityUpdateMe', summary: 'Set or clear the caller\'s own display name (shown in members lists)', body: S.MePatchBody, response: { 200: S.Me } },
  }, async (req) => {
    const principal = principalOf(req);
    await profile.setDisplayName(principal, req.body.displayName);
    return auth.me(principal);
  });

  app.get('/members', {
    config: { security: { policy: { permission: 'members:read' } } },
    schema: { tags: ['members'], operationId: 'identityListMembers', summary: 'List the tenant\'s members', response: { 200: S.MemberList } },
  }, async (req) => ({ items: await members.list(principalOf(req)) }));

  app.patch('/members/:userId', {
    config: { security: { policy: { permission: 'members:manage' }, stepUp: true }, problems: [404, 409] },
    schema: { tags: ['members'], operationId: 'identityChangeMemberRole', summary: 'Change a member\'s built-in role (step-up)', params: S.UserIdParams, body: S.RoleChangeBody, response: NoContent },
  }, async (req, reply) => {
    await members.changeRole(principalOf(req), req.params.userId, req.body.role);
    return reply.code(204).send(null);
  });

  app.delete('/members/:userId', {
    config: { security: { policy: { permission: 'members:manage' }, stepUp: true }, problems: [404, 409] },
    schema: { tags: ['members'], operationId: 'identityRemoveMember', summary: 'Remove a member from the tenant (step-up)', params: S.UserIdParams, response: NoContent },
  }, async (req, reply) => {
    await members.remove(principalOf(req), req.params.userId);
    return reply.code(204).send(null);
  });

  app.post('/invitations', {
    config: { security: { policy: { permission: 'invitations:manage' } }, problems: [409] },
    schema: { tags: ['invitations'], operationId: 'identityCreateInvitation', summary: 'Invite someone by email with a role', body: S.InvitationBody, response: { 201: S.CreatedInvitation } },
  }, async (req, reply) => reply.code(201).send(await invitations.create(principalOf(req), req.body)));

  app.get('/invitations', {
    config: { security: { policy: { permission: 'invitations:manage' } } },
    schema: { tags: ['invitations'], operationId: 'identityListInvitations', summary: 'List pending invitations', response: { 200: S.InvitationList } },
  }, async (req) => ({ items: await invitations.list(principalOf(req)) }));

  app.delete('/invitations/:id', {
    config: { security: { policy: { permission: 'invitations:manage' } }, problems: [404] },
    schema: { tags: ['invitations'], operationId: 'identityRevokeInvitation', summary: 'Revoke a pending invitation', params: S.IdParams, response: NoContent },
  }, async (req, reply) => {
    await invitations.revoke(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.post('/invitations/accept', {
    config: { security: { policy: 'public', rateClass: 'auth' }, problems: [401, 409] },
    schema: { tags: ['invitations'], operationId: 'identityAcceptInvitation', summary: 'Accept an invitation (creating the account if needed)', body: S.AcceptInvitationBody, response: { 200: S.LoginResult } },
  }, async (req) => invitations.accept(req.body, clientOf(req)));
};

import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ProblemError } from '../../http/problem.ts';
import type { Principal } from '../../kernel/auth/principal.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createAuthService } from '../identity/auth-service.ts';
import type { IssuedTokens } from '../identity/sessions.ts';
import { pageHeaders, refusedPage, signInPage } from './pages.ts';
import { createDiscourseSsoService, SsoRefusedError } from './sso-service.ts';

const Params = {
  type: 'object',
  properties: { tenantId: { type: 'string', minLength: 1, maxLength: 64 } },
  required: ['tenantId'],
  additionalProperties: false,
} as const;
const Query = {
  type: 'object',
  properties: { sso: { type: 'string', maxLength: 4096 }, sig: { type: 'string', maxLength: 128 } },
} as const;

/** Form fields are short; anything larger is not a sign-in. */
const MAX_FORM = 16_384;

/**
 * `GET /sso/discourse/{tenantId}` is the tenant's `discourse_connect_url`. The
 * API is bearer-token based, so a browser arriving from Discourse gets a small
 * sign-in page (no script) whose form POSTs the credentials with sso/sig to the
 * same path; identity's own login and MFA services check them. The transient
 * session that login creates is ended at once: Discourse keeps its own session.
 */
export const discoursePublicRoutes: FastifyPluginAsync<{ platform: Platform }> = async (app, { platform }) => {
  const sso = createDiscourseSsoService(platform);
  const auth = createAuthService(platform);
  const security = { policy: 'public' as const, rateClass: 'auth' };

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: MAX_FORM }, (_req, body, done) => done(null, String(body)));

  const send = (reply: FastifyReply, status: number, html: string, origin: string | null = null) => reply.code(status).headers(pageHeaders(origin)).send(html);
  const refused = (reply: FastifyReply, err: SsoRefusedError) => send(reply, err.reason === 'not-configured' ? 404 : 403, refusedPage(err.reason));
  const client = (req: FastifyRequest) => ({ userAgent: req.headers['user-agent'], ip: req.ip });

  const tags = ['discourse'];
  // Pages a person reads (also the 403/404 refusal pages); the signed answer is a 303 redirect to Discourse.
  const html = { description: 'An HTML page', content: { 'text/html': { schema: { type: 'string' } } } };

  app.get('/sso/discourse/:tenantId', {
    config: { security },
    schema: { tags, operationId: 'discourseConnectPage', summary: 'DiscourseConnect entry (discourse_connect_url): verifies the request, shows the sign-in page', params: Params, querystring: Query, response: { 200: html } },
  }, async (req, reply) => {
    const { tenantId } = req.params as { tenantId: string };
    const q = req.query as { sso?: string; sig?: string };
    try {
      const request = await sso.inspect(tenantId, q.sso ?? '', q.sig ?? '');
      return send(reply, 200, signInPage({ action: `/sso/discourse/${request.tenantId}`, forumHost: new URL(request.origin).host, sso: q.sso ?? '', sig: q.sig ?? '' }), request.origin);
    } catch (err) {
      if (err instanceof SsoRefusedError) return refused(reply, err);
      throw err;
    }
  });

  app.post('/sso/discourse/:tenantId', {
    config: { security },
    schema: { tags, operationId: 'discourseConnectSignIn', summary: 'DiscourseConnect sign-in form: email, password (and code), then the signed redirect to Discourse (303)', params: Params, response: { 200: html } },
  }, async (req, reply) => {
    const { tenantId } = req.params as { tenantId: string };
    const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
    const field = (name: string) => (form.get(name) ?? '').slice(0, 1024);
    const [ssoText, sig, email, password, code] = ['sso', 'sig', 'email', 'password', 'code'].map((n) => (n === 'sso' ? (form.get(n) ?? '').slice(0, 4096) : field(n))) as [string, string, string, string, string];
    let request;
    try {
      // Every check of the request before a password is looked at.
      request = await sso.inspect(tenantId, ssoText, sig);
    } catch (err) {
      if (err instanceof SsoRefusedError) return refused(reply, err);
      throw err;
    }
    const again = (status: number, message: string, askCode = false) => send(reply, status, signInPage({
      action: `/sso/discourse/${request.tenantId}`, forumHost: new URL(request.origin).host, sso: ssoText, sig, email, message, askCode,
    }), request.origin);

    let tokens: IssuedTokens;
    let mfa = false;
    try {
      const first = await auth.login({ email, password, tenant: request.tenantId }, client(req));
      if ('mfaRequired' in first) {
        if (!code) return again(200, 'Enter the code from your authenticator app.', true);
        tokens = await auth.verifyMfa({ ticket: first.mfaTicket, code }, client(req));
        mfa = true;
      } else {
        tokens = first;
      }
    } catch (err) {
      if (!(err instanceof ProblemError)) throw err;
      if (err.status === 429) return again(429, 'Too many attempts. Wait a little and try again.');
      if (err.status === 401) return again(401, 'The email, password or code is not right.');
      return send(reply, 403, refusedPage('not-a-member'));
    }
    const claims = await platform.tokens.verify(tokens.accessToken);
    const transient: Principal = {
      kind: 'user', userId: tokens.user.id, keyId: null, tenantId: tokens.tenant.id, roles: tokens.roles, sessionId: claims.sid, permissions: new Set(), mfaAt: null,
    };
    try {
      const url = await sso.answer(request.tenantId, ssoText, sig, { userId: tokens.user.id, mfa, via: 'password' });
      return (reply as FastifyReply).code(303).headers({ ...pageHeaders(request.origin), location: url }).send('');
    } catch (err) {
      if (err instanceof SsoRefusedError) return refused(reply, err);
      throw err;
    } finally {
      await auth.logout(transient);
    }
  });
};

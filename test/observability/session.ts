import { randomBytes } from 'node:crypto';
import { bearer, enableMfa, json, login, signup, type TestApp } from '../support/app.ts';
import { startReceiver } from '../webhooks/receiver.ts';

const seeded = (prefix: string) => `${prefix}${randomBytes(18).toString('base64url')}`;

export interface Session {
  /** Every secret, token and address the session created or sent; none may leave in a span or a log line. */
  secrets: Record<string, string>;
  /** Email addresses used (kept out of spans; logs may name a user by id only). */
  emails: string[];
  tenantId: string;
}

/**
 * A scripted session that puts secrets everywhere a careless exporter or log
 * line would pick them up: passwords in bodies, tokens in Authorization,
 * x-api-key and cookie headers, tokens in query strings and in paths, an MFA
 * seed and recovery codes in answers, an API key and a webhook signing secret,
 * and a webhook delivery job run by the worker.
 */
export async function runSession(t: TestApp): Promise<Session> {
  const rx = await startReceiver();
  try {
    const owner = await signup(t.app, 'Observed Tenant');
    const relogged = await login(t.app, owner);
    await enableMfa(t.app, relogged);
    const key = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(relogged), payload: { name: 'observed', scopes: ['webhooks:read'] } });
    if (key.statusCode !== 201) throw new Error(`api key: ${key.statusCode} ${key.body}`);
    const apiKey = json(key).key as string;

    const queryToken = seeded('ocs_rt_');
    const pathToken = seeded('ptk');
    const headerSecret = seeded('xak_');
    const cookieSecret = seeded('sid');
    const wrongPassword = seeded('wrong-password-');

    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(relogged) });
    if (me.statusCode !== 200) throw new Error(`me: ${me.statusCode} ${me.body}`);
    await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${apiKey}`, 'x-api-key': headerSecret, cookie: `session=${cookieSecret}` } });
    await t.app.inject({ method: 'GET', url: `/api/v1/me?access_token=${relogged.accessToken}&token=${queryToken}`, headers: bearer(relogged) });
    await t.app.inject({ method: 'GET', url: `/api/v1/webhooks/endpoints?token=${queryToken}`, headers: { authorization: `Bearer ${apiKey}` } });
    await t.app.inject({ method: 'GET', url: `/u/${pathToken}` });
    await t.app.inject({ method: 'GET', url: `/no/such/route/${pathToken}?secret=${queryToken}` });
    await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${queryToken}` } });
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: wrongPassword, tenant: owner.tenantId } });
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: relogged.refreshToken } });
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { email: owner.email } });

    const created = await t.app.inject({ method: 'POST', url: '/api/v1/webhooks/endpoints', headers: bearer(relogged), payload: { url: rx.url(`/hook?key=${queryToken}`), eventTypes: ['webhooks.test'] } });
    if (created.statusCode !== 201) throw new Error(`endpoint: ${created.statusCode} ${created.body}`);
    const endpoint = json(created);
    const test = await t.app.inject({ method: 'POST', url: `/api/v1/webhooks/endpoints/${endpoint.id}/test`, headers: bearer(relogged) });
    if (test.statusCode !== 202) throw new Error(`endpoint test: ${test.statusCode} ${test.body}`);
    await rx.waitFor(`/hook?key=${queryToken}`, 1);

    const mfa = relogged.mfa!;
    return {
      tenantId: owner.tenantId,
      emails: [owner.email],
      secrets: {
        password: owner.password,
        wrongPassword,
        signupAccessToken: owner.accessToken,
        signupRefreshToken: owner.refreshToken,
        accessToken: relogged.accessToken,
        refreshToken: relogged.refreshToken,
        mfaSecret: mfa.secret,
        ...Object.fromEntries(mfa.recoveryCodes.map((c, i) => [`recoveryCode${i}`, c])),
        apiKey,
        webhookSecret: endpoint.secret as string,
        queryToken,
        pathToken,
        headerSecret,
        cookieSecret,
      },
    };
  } finally {
    await rx.close();
  }
}

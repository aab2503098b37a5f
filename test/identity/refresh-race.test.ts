import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, json, signup, startApp, type TestApp } from '../support/app.ts';

/** Two tabs refreshing at once must not log the user out; a late replay still does. */
let t: TestApp;
beforeAll(async () => {
  t = await startApp({ OCSUITE_REFRESH_GRACE_SECONDS: '2' });
});
afterAll(() => t?.close());

const refresh = (refreshToken: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } });

describe('refresh-token grace period', () => {
  it('answers 409 to a reuse within the grace period and keeps the session', async () => {
    const owner = await signup(t.app);
    const first = await refresh(owner.refreshToken);
    expect(first.statusCode).toBe(200);
    const racing = await refresh(owner.refreshToken);
    expect(racing.statusCode).toBe(409);
    expect(json(racing).type).toBe('urn:ocsuite:problem:refresh-race');
    const next = await refresh(json(first).refreshToken);
    expect(next.statusCode).toBe(200);
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(json(next)) });
    expect(me.statusCode).toBe(200);
  });

  it('treats a reuse after the grace period as theft and ends the session', async () => {
    const owner = await signup(t.app);
    const first = json(await refresh(owner.refreshToken));
    await new Promise((r) => setTimeout(r, 2_500));
    const late = await refresh(owner.refreshToken);
    expect(late.statusCode).toBe(401);
    expect((await refresh(first.refreshToken)).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(first) })).statusCode).toBe(401);
  });
});

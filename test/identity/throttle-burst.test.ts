import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enableMfa, json, signup, startApp, type TestApp } from '../support/app.ts';

/**
 * Brute force in parallel: every guess of a burst is counted as it arrives,
 * before any of them is checked, so a burst gets no more checks than a
 * patient attacker (ACCOUNT_POLICY: 5) — the rest are 429 with Retry-After.
 */
let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const BURST = 30;
// Each burst comes from an address of its own (TEST-NET-2): the per-IP budget is shared by every
// suite of a PostgreSQL run, and these bursts must not spend it for them.
const from = (n: number) => ({ remoteAddress: `198.51.100.${n}` });

describe('a burst of parallel guesses', () => {
  it('at login: at most five passwords are checked, then even the right one is refused while locked', async () => {
    const owner = await signup(t.app, 'Burst Login');
    const res = await Promise.all(Array.from({ length: BURST }, (_, i) =>
      t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: `wrong guess number ${i}` }, ...from(1) })));
    const checked = res.filter((r) => r.statusCode === 401).length;
    const refused = res.filter((r) => r.statusCode === 429);
    expect(checked).toBeGreaterThanOrEqual(1);
    expect(checked).toBeLessThanOrEqual(5);
    expect(refused.length).toBe(BURST - checked);
    for (const r of refused) {
      expect(json(r).type).toBe('urn:ocsuite:problem:locked-out');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    const right = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: owner.password }, ...from(1) });
    expect(right.statusCode).toBe(429);
  });

  it('at the MFA step: at most five codes are checked for one account', async () => {
    const owner = await enableMfa(t.app, await signup(t.app, 'Burst MFA'));
    const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: owner.password } });
    const ticket = json(login).mfaTicket as string;
    expect(ticket).toMatch(/\S{16,}/);
    const res = await Promise.all(Array.from({ length: BURST }, (_, i) =>
      t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/verify', payload: { ticket, code: String(100000 + i) }, ...from(2) })));
    const checked = res.filter((r) => r.statusCode === 401).length;
    expect(checked).toBeLessThanOrEqual(5);
    expect(res.filter((r) => r.statusCode === 429).length).toBe(BURST - checked);
    expect(res.some((r) => r.statusCode === 200)).toBe(false);
  });

  it('at step-up: at most five codes are checked for one signed-in user', async () => {
    const owner = await enableMfa(t.app, await signup(t.app, 'Burst Step-up'));
    const res = await Promise.all(Array.from({ length: BURST }, (_, i) =>
      t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/step-up', headers: { authorization: `Bearer ${owner.accessToken}` }, payload: { code: String(200000 + i) } })));
    const checked = res.filter((r) => r.statusCode !== 429).length;
    expect(checked).toBeLessThanOrEqual(5);
    expect(res.every((r) => r.statusCode === 429 || r.statusCode === 401 || r.statusCode === 403)).toBe(true);
  });
});

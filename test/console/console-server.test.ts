import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConsoleAssets } from '../../src/modules/console/assets.ts';
import { REFRESH_COOKIE } from '../../src/modules/identity/refresh-cookie.ts';
import { verifyCheckpoint, verifyInclusion } from '../../web/src/verify.ts';
import { bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/** The console's server side without a browser: cookie-mode refresh (CSRF) and the in-browser log verifier. */
let t: TestApp;
let owner: Account;
const ORIGIN = 'http://console.test';
const cookieMode = { 'x-ocsuite-refresh': 'cookie', origin: ORIGIN, host: 'console.test' };

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Cookie Co');
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const cookieOf = (res: { headers: Record<string, unknown> }) => {
  const header = String(res.headers['set-cookie'] ?? '');
  return { header, value: /__Secure-ocsuite-refresh=([^;]*)/.exec(header)?.[1] };
};
const login = (headers: Record<string, string>) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers, payload: { email: owner.email, password: owner.password } });
const refresh = (value: string | undefined, headers: Record<string, string> = cookieMode) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: { ...headers, cookie: `${REFRESH_COOKIE}=${value}` }, payload: {} });

describe('cookie mode', () => {
  it('puts the refresh token in a strict cookie scoped to the refresh route, never in the body', async () => {
    const res = await login(cookieMode);
    expect(res.statusCode).toBe(200);
    expect(json(res).refreshToken).toBeUndefined();
    expect(json(res).accessToken).toBeTruthy();
    const { header, value } = cookieOf(res);
    expect(value).toMatch(/^ocs_rt_/);
    for (const attr of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/api/v1/auth/refresh']) expect(header).toContain(attr);
    expect(res.headers['cache-control']).toBe('no-store');

    // Rotation: the new cookie works, the old one replayed is theft and ends the session.
    const next = await refresh(value);
    expect(next.statusCode).toBe(200);
    const rotated = cookieOf(next).value;
    expect(rotated).not.toBe(value);
    expect(json(next).refreshToken).toBeUndefined();
    // Replayed within the grace window (OCSUITE_REFRESH_GRACE_SECONDS) it is the two-tabs race: 409, nothing issued.
    const replay = await refresh(value);
    expect(replay.statusCode).toBe(409);
    expect(replay.headers['set-cookie']).toBeUndefined();
  });

  it('refuses cookie mode from another origin before checking the password, and without an Origin', async () => {
    for (const headers of [
      { ...cookieMode, origin: 'https://evil.example' },
      { 'x-ocsuite-refresh': 'cookie', host: 'console.test' },
      { ...cookieMode, 'sec-fetch-site': 'same-site' },
    ]) {
      const res = await login(headers);
      expect(res.statusCode).toBe(403);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    const value = cookieOf(await login(cookieMode)).value;
    expect((await refresh(value, { ...cookieMode, origin: 'https://evil.example' })).statusCode).toBe(403);
    // The cookie without the header is ignored: a plain cross-site form post carries no token.
    expect((await refresh(value, { origin: ORIGIN, host: 'console.test' })).statusCode).toBe(401);
    // Untouched by the refusals: it still refreshes from the right origin.
    expect((await refresh(value)).statusCode).toBe(200);
  });

  it('refuses a malformed cookie as an invalid token, and logout expires the cookie', async () => {
    expect((await refresh('not-a-token')).statusCode).toBe(401);
    const session = json(await login(cookieMode));
    const out = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { ...bearer(session), 'x-ocsuite-refresh': 'cookie' } });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/__Secure-ocsuite-refresh=; Path=\/api\/v1\/auth\/refresh; Max-Age=0/);
  });
});

describe('the console files', () => {
  it('are not served when the console is not built', () => {
    expect(loadConsoleAssets(mkdtempSync(join(tmpdir(), 'console-empty-')))).toBeUndefined();
  });
});

describe('the in-browser log verifier (web/src/verify.ts)', () => {
  it('accepts the real checkpoint and inclusion proof, and rejects tampered ones', async () => {
    const cp = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/checkpoint', headers: bearer(owner) }));
    const key = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/key' }));
    const origin = key.originTemplate.replace('{tenantId}', owner.tenantId);
    const parsed = await verifyCheckpoint(cp.checkpoint, key.verifierKey, origin);
    expect(parsed.size).toBe(cp.size);

    await expect(verifyCheckpoint(cp.checkpoint, key.verifierKey, `${origin}x`)).rejects.toThrow(/origin/);
    const [body, sig] = cp.checkpoint.split('\n\n');
    const lines = body.split('\n');
    lines[1] = String(Number(lines[1]) + 1);
    await expect(verifyCheckpoint(`${lines.join('\n')}\n\n${sig}`, key.verifierKey, origin)).rejects.toThrow(/signature/);
    const otherKey = key.verifierKey.replace(/\+[0-9a-f]{8}\+/, '+00000000+');
    await expect(verifyCheckpoint(cp.checkpoint, otherKey, origin)).rejects.toThrow(/key id/);

    const events = json(await t.app.inject({ method: 'GET', url: '/api/v1/audit-events?limit=10', headers: bearer(owner) })).items
      .filter((e: { leafIndex: number }) => e.leafIndex < parsed.size);
    expect(events.length).toBeGreaterThan(0);
    const event = events[0];
    const proof = json(await t.app.inject({ method: 'GET', url: `/api/v1/translog/proof/inclusion?eventId=${event.id}&size=${parsed.size}`, headers: bearer(owner) }));
    expect(await verifyInclusion(proof.index, proof.size, event.leafHash, proof.proof, parsed.root)).toBe(true);
    const other = events.find((e: { leafHash: string }) => e.leafHash !== event.leafHash) ?? { leafHash: Buffer.alloc(32, 1).toString('base64') };
    expect(await verifyInclusion(proof.index, proof.size, other.leafHash, proof.proof, parsed.root)).toBe(false);
  });
});

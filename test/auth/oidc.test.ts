import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcVerifier, validateIssuerConfig, type OidcIssuerConfig } from '../../src/kernel/auth/oidc.ts';

/** A local JWKS server stands in for the provider (Clerk-shaped claims); keys are made at run time. */
let server: http.Server;
let base: string;
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
let jwks: { keys: JWK[] };
let strangerJwks: { keys: JWK[] };

beforeAll(async () => {
  jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' }] };
  strangerJwks = { keys: [{ ...(await exportJWK(stranger.publicKey)), kid: 'evil', alg: 'RS256' }] };
  server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url === '/evil/jwks.json' ? strangerJwks : jwks));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const config = (over: Partial<OidcIssuerConfig> = {}): OidcIssuerConfig => ({
  issuer: base,
  jwksUrl: `${base}/.well-known/jwks.json`,
  authorizedParties: ['https://app.example.com'],
  algorithms: ['RS256'],
  tenantClaim: 'org_id',
  roleClaim: 'org_role',
  roleMap: { 'org:admin': 'admin', 'org:member': 'member' },
  ...over,
});

function token(opts: { key?: KeyObject; alg?: string; kid?: string; iss?: string; claims?: Record<string, unknown>; exp?: number; header?: Record<string, unknown> } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ azp: 'https://app.example.com', org_id: 'org_123', org_role: 'org:admin', email: 'ext@example.com', email_verified: true, ...opts.claims })
    .setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: opts.kid ?? 'rsa-1', ...opts.header })
    .setIssuer(opts.iss ?? base)
    .setSubject('user_abc')
    .setIssuedAt(now - 5)
    .setExpirationTime(opts.exp ?? now + 300)
    .sign(opts.key ?? rsa.privateKey);
}

describe('external OIDC tokens', () => {
  it('accepts a valid token and maps organisation and role', async () => {
    const v = new OidcVerifier([config()]);
    const t = await token();
    expect(v.handles(t)).toBe(true);
    expect(await v.verify(t)).toMatchObject({ issuer: base, subject: 'user_abc', email: 'ext@example.com', emailVerified: true, tenant: { externalId: 'org_123' }, role: 'admin' });
  });

  it('maps every token of a tenant-bound issuer to that tenant', async () => {
    const v = new OidcVerifier([config({ tenantId: '00000000-0000-4000-8000-000000000001', tenantClaim: undefined })]);
    expect((await v.verify(await token({ claims: { org_id: undefined } }))).tenant).toEqual({ localId: '00000000-0000-4000-8000-000000000001' });
  });

  it('rejects each forgery', async () => {
    const v = new OidcVerifier([config()]);
    const vAud = new OidcVerifier([config({ audiences: ['ocsuite-api'], authorizedParties: [] })]);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const hsKey = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    const cases: Array<[string, Promise<string>, OidcVerifier]> = [
      ['wrong issuer', token({ iss: 'https://evil.example' }), v],
      ['issuer with trailing slash', token({ iss: `${base}/` }), v],
      ['azp not allowed', token({ claims: { azp: 'https://evil.example' } }), v],
      ['no azp and no aud', token({ claims: { azp: undefined } }), v],
      ['wrong audience', new SignJWT({ org_id: 'o', org_role: 'org:admin' }).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setIssuer(base).setSubject('s').setAudience('another-api').setIssuedAt().setExpirationTime('5m').sign(rsa.privateKey), vAud],
      ['algorithm outside the allowlist (ES256 key in the JWKS)', token({ key: ec.privateKey, alg: 'ES256', kid: 'ec-1' }), v],
      ['kid not in the set', token({ key: stranger.privateKey, kid: 'evil' }), v],
      ['signed by another key under a known kid', token({ key: stranger.privateKey, kid: 'rsa-1' }), v],
      ['jku pointing at the attacker', token({ key: stranger.privateKey, kid: 'evil', header: { jku: `${base}/evil/jwks.json` } }), v],
      ['HS256 keyed with the public JWK', new SignJWT({ azp: 'https://app.example.com', org_id: 'o', org_role: 'org:admin' }).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).setIssuer(base).setSubject('s').setIssuedAt().setExpirationTime('5m').sign(hsKey), v],
      ['alg none', Promise.resolve(`${b64({ alg: 'none' })}.${b64({ iss: base, sub: 's', azp: 'https://app.example.com', org_id: 'o', org_role: 'org:admin', iat: now, exp: now + 300 })}.`), v],
      ['expired beyond the skew', token({ exp: now - 120 }), v],
      ['role not mapped', token({ claims: { org_role: 'org:superadmin' } }), v],
      ['no organisation claim', token({ claims: { org_id: undefined } }), v],
    ];
    for (const [name, t, verifier] of cases) {
      await expect(verifier.verify(await t), name).rejects.toThrow();
    }
    await expect(v.verify(await token({ exp: now - 10 }))).resolves.toMatchObject({ role: 'admin' }); // within the 30 s skew
  });

  it('refuses unsafe issuer configurations', () => {
    expect(validateIssuerConfig(config({ algorithms: ['HS256'] }))).toHaveLength(1);
    expect(validateIssuerConfig(config({ algorithms: [] }))).toHaveLength(1);
    expect(validateIssuerConfig(config({ authorizedParties: [], audiences: [] }))).toHaveLength(1);
    expect(validateIssuerConfig(config({ issuer: 'http://idp.example.com' }))).toHaveLength(1);
    expect(validateIssuerConfig(config({ tenantClaim: undefined }))).toHaveLength(1);
    expect(validateIssuerConfig(config({ roleMap: { 'org:admin': 'root' as never } }))).toHaveLength(1);
    expect(() => new OidcVerifier([config({ algorithms: ['none'] })])).toThrow();
  });
});

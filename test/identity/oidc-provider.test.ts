import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { exportJWK, SignJWT, type JWK } from 'jose';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { json, signup, startApp, uniqueEmail, type Account, type TestApp } from '../support/app.ts';

/**
 * Issue #10 §2 against a real OpenID Provider (panva's oidc-provider) on
 * 127.0.0.1, issuing JWT access tokens per RFC 9068 (`client_id`, not `azp`)
 * through the client-credentials grant. Keys and client secrets are made at run time.
 */
const RESOURCE = 'https://api.ocsuite.test';
const CACHE_SECONDS = 2;

let t: TestApp;
let owner: Account;
let opServer: http.Server;
let issuer: string;
let port: number;
let signingKey: KeyObject;
const secrets = { listed: randomBytes(24).toString('base64url'), unlisted: randomBytes(24).toString('base64url') };

async function startProvider(key: KeyObject, kid: string): Promise<void> {
  const jwk = { ...(await exportJWK(key)), kid, alg: 'RS256', use: 'sig' } as JWK;
  const provider = new Provider(issuer, {
    clients: [
      { client_id: 'listed-app', client_secret: secrets.listed, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
      { client_id: 'unlisted-app', client_secret: secrets.unlisted, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'api', audience: RESOURCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
      },
    },
    // The organisation and role claims a provider adds for its client (Clerk calls them org_id/org_role).
    extraTokenClaims: () => ({ org_id: 'org_acme', org_role: 'org:admin', email: 'machine@example.com', email_verified: true }),
  });
  opServer = http.createServer(provider.callback());
  await new Promise<void>((r) => opServer.listen(port, '127.0.0.1', r));
}

async function stopProvider(): Promise<void> {
  opServer.closeAllConnections();
  await new Promise<void>((r) => opServer.close(() => r()));
}

/** An RFC 9068 access token from the provider's token endpoint (client_credentials). */
async function accessTokenFor(client: keyof typeof secrets): Promise<string> {
  const id = client === 'listed' ? 'listed-app' : 'unlisted-app';
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${id}:${secrets[client]}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api', resource: RESOURCE }),
  });
  const body = await res.json() as { access_token?: string; error?: string };
  if (!body.access_token) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** A token signed with the provider's own key but shaped by the test (claims the provider would not issue). */
function forged(claims: Record<string, unknown>, kid = 'op-1') {
  return new SignJWT({ org_id: 'org_acme', org_role: 'org:admin', email: 'machine@example.com', email_verified: true, aud: RESOURCE, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid }).setIssuer(issuer).setSubject(String(claims.sub ?? 'subject-1')).setIssuedAt().setExpirationTime('5m').sign(signingKey);
}

const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });

/** Log lines of refused external tokens since `from` (an index into t.logs). */
const refusals = (from: number) => t.logs.slice(from).map((l) => JSON.parse(l)).filter((l) => l.msg === 'external token refused');

beforeAll(async () => {
  // Reserve a port, so the provider can be restarted on the same issuer URL with another key.
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  issuer = `http://127.0.0.1:${port}`;
  signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  await startProvider(signingKey, 'op-1');

  t = await startApp({
    OCSUITE_OIDC_ISSUERS: JSON.stringify([{
      issuer, jwksUrl: `${issuer}/jwks`, audiences: [RESOURCE], authorizedParties: ['listed-app'], algorithms: ['RS256'],
      tenantClaim: 'org_id', roleClaim: 'org_role', roleMap: { 'org:admin': 'admin' }, tokenCacheSeconds: CACHE_SECONDS,
    }]),
  });
  owner = await signup(t.app, 'Provider-mapped');
  await withOwner(t.platform.db, (tx) => tx.query(sql`INSERT INTO external_tenants (issuer, external_id, tenant_id) VALUES (${issuer}, 'org_acme', ${owner.tenantId})`));
}, 120_000);

afterAll(async () => {
  await t?.close();
  await stopProvider().catch(() => {});
});

describe('tokens of a real OpenID Provider (RFC 9068 JWT access tokens)', () => {
  it('a listed client is accepted, mapped to its tenant and role', async () => {
    const res = await me(await accessTokenFor('listed'));
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({ tenant: { id: owner.tenantId }, roles: ['admin'] });
  });

  it('a client not in authorizedParties is refused by client_id, and the reason is logged without the token', async () => {
    const token = await accessTokenFor('unlisted');
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())).toMatchObject({ client_id: 'unlisted-app' });
    const from = t.logs.length;
    expect((await me(token)).statusCode).toBe(401);
    expect(refusals(from)).toEqual([expect.objectContaining({ reason: 'client', issuer })]);
    expect(t.logs.slice(from).join('')).not.toContain(token.split('.')[2]);
  });

  it('a client not listed is refused by azp as well, and so is a token whose azp and client_id disagree', async () => {
    const from = t.logs.length;
    expect((await me(await forged({ azp: 'unlisted-app' }))).statusCode).toBe(401);
    expect((await me(await forged({ azp: 'unlisted-app', client_id: 'listed-app' }))).statusCode).toBe(401);
    expect((await me(await forged({ azp: 'listed-app' }))).statusCode).toBe(200);
    expect(refusals(from).map((r) => r.reason)).toEqual(['client', 'client']);
  });

  it('a token naming no client is refused while a client list is set', async () => {
    const from = t.logs.length;
    expect((await me(await forged({}))).statusCode).toBe(401);
    expect(refusals(from).map((r) => r.reason)).toEqual(['client']);
  });

  it('each refusal has its reason code, and the refusals are counted by reason', async () => {
    const from = t.logs.length;
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const strangerToken = await new SignJWT({ client_id: 'listed-app', aud: RESOURCE, org_id: 'org_acme', org_role: 'org:admin' })
      .setProtectedHeader({ alg: 'RS256', kid: 'op-1' }).setIssuer(issuer).setSubject('s').setIssuedAt().setExpirationTime('5m').sign(stranger);
    const unknownIssuer = await new SignJWT({ client_id: 'listed-app' })
      .setProtectedHeader({ alg: 'RS256', kid: 'x' }).setIssuer('https://idp.attacker.example').setSubject('s').setIssuedAt().setExpirationTime('5m').sign(stranger);
    const cases: Array<[string, string]> = [
      [strangerToken, 'signature'],
      [await forged({ client_id: 'listed-app', aud: 'https://other.example' }), 'audience'],
      [await forged({ client_id: 'listed-app', org_id: 'org_nobody' }), 'unmapped-organisation'],
      // A subject seen for the first time, with an address the provider did not verify.
      [await forged({ client_id: 'listed-app', sub: `new-${randomBytes(4).toString('hex')}`, email: uniqueEmail('unverified'), email_verified: false }), 'unverified-email'],
      [unknownIssuer, 'unknown-issuer'],
    ];
    for (const [token] of cases) expect((await me(token)).statusCode).toBe(401);
    expect(refusals(from).map((r) => r.reason)).toEqual(cases.map(([, reason]) => reason));
    const metrics = await t.platform.metrics.registry.getSingleMetricAsString('ocsuite_external_token_refusals_total');
    for (const reason of ['client', 'signature', 'audience', 'unmapped-organisation', 'unverified-email', 'unknown-issuer']) {
      expect(metrics).toMatch(new RegExp(`reason="${reason}"} [1-9]`));
    }
  });

  it('a verified token stops working within the cache bound once the provider withdraws its key', async () => {
    const token = await accessTokenFor('listed');
    expect((await me(token)).statusCode).toBe(200);
    // The provider rotates: same issuer, a new key; the old one is no longer in its JWKS.
    await stopProvider();
    signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    await startProvider(signingKey, 'op-2');
    const from = t.logs.length;
    const deadline = Date.now() + (CACHE_SECONDS + 2) * 1000;
    let status = 200;
    while (status === 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await me(token)).statusCode;
    }
    expect(status).toBe(401);
    expect(refusals(from).map((r) => r.reason)).toContain('signature');
    // Tokens signed with the new key are accepted.
    expect((await me(await accessTokenFor('listed'))).statusCode).toBe(200);
  });
});

// Token verification on the request path (issue #3): the authenticator the onRequest hook runs,
// for built-in and external OIDC tokens, against jose's jwtVerify called directly in the same run.
// The request path must not be the bottleneck: target ratio ≥ 0.8, with whatever caching is safe.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, exportJWK, jwtVerify, SignJWT } from 'jose';
import { sql } from 'drizzle-orm';
import { bootPlatform, shutdownPlatform } from '../src/boot.ts';
import { loadConfig } from '../src/config/config.ts';
import { openPglite } from '../src/db/client.ts';
import { withOwner } from '../src/db/transaction.ts';
import { createAuthenticator } from '../src/kernel/auth/authenticator.ts';
import { buildServer } from '../src/server.ts';
import { perSecond } from './support.ts';

const idp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...(await exportJWK(idp.publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
const server = http.createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const config = loadConfig({
  OCSUITE_MASTER_KEYS: `b1:${randomBytes(32).toString('base64')}`,
  OCSUITE_DATA_DIR: `/tmp/ocsuite-bench-${process.pid}`,
  LOG_LEVEL: 'warn',
  OCSUITE_OIDC_ISSUERS: JSON.stringify([{ issuer, jwksUrl: `${issuer}/jwks`, authorizedParties: ['bench'], algorithms: ['ES256'], tenantClaim: 'org_id', roleClaim: 'org_role', roleMap: { 'org:member': 'member' } }]),
});
const platform = await bootPlatform(config, { db: await openPglite(undefined), workers: false });
const app = await buildServer(platform);
const signup = (await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'Bench', email: 'tokens@example.com', password: 'correct horse battery staple 42' } })).json();
await withOwner(platform.db, (tx) => tx.query(sql`INSERT INTO external_tenants (issuer, external_id, tenant_id) VALUES (${issuer}, 'org_bench', ${signup.tenant.id})`));
const external = await new SignJWT({ azp: 'bench', org_id: 'org_bench', org_role: 'org:member', email: 'ext-bench@example.com', email_verified: true })
  .setProtectedHeader({ alg: 'ES256', kid: 'bench' }).setIssuer(issuer).setSubject('ext_1').setIssuedAt().setExpirationTime('1h').sign(idp.privateKey);

const authenticator = createAuthenticator(platform);
const n = Number(process.env.BENCH_TOKEN_ITERATIONS ?? 20_000);
const builtInLocal = createLocalJWKSet(platform.tokens.jwks() as never);
const externalRemote = createRemoteJWKSet(new URL(`${issuer}/jwks`));

const joseBuiltIn = await perSecond(n, () => jwtVerify(signup.accessToken, builtInLocal, { algorithms: ['EdDSA'] }));
const pathBuiltIn = await perSecond(n, () => authenticator.authenticate(signup.accessToken));
const joseExternal = await perSecond(n, () => jwtVerify(external, externalRemote, { algorithms: ['ES256'] }));
const pathExternal = await perSecond(n, () => authenticator.authenticate(external));

const results = {
  iterations: n,
  builtIn: { requestPathPerSec: Math.round(pathBuiltIn), joseDirectPerSec: Math.round(joseBuiltIn), ratio: +(pathBuiltIn / joseBuiltIn).toFixed(2), target: 0.8 },
  external: { requestPathPerSec: Math.round(pathExternal), joseDirectPerSec: Math.round(joseExternal), ratio: +(pathExternal / joseExternal).toFixed(2), target: 0.8 },
  note: 'the request path verifies each token once and caches the verified claims until exp; built-in sessions are re-checked at most every 5 s',
};

await app.close();
await shutdownPlatform(platform);
await new Promise<void>((r) => server.close(() => r()));

console.log(`\nToken verification on the request path (${n} verifications each)`);
console.log(`  built-in EdDSA   request path ${results.builtIn.requestPathPerSec}/s vs jose direct ${results.builtIn.joseDirectPerSec}/s   ratio ${results.builtIn.ratio} (target ≥ 0.8)`);
console.log(`  external ES256   request path ${results.external.requestPathPerSec}/s vs jose direct ${results.external.joseDirectPerSec}/s   ratio ${results.external.ratio} (target ≥ 0.8)`);
const file = 'bench/results.json';
const all = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
all.tokens = results;
fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);

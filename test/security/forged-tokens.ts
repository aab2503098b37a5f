import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { loadSigningKeys } from '../../src/kernel/auth/signing-keys.ts';
import type { Platform } from '../../src/kernel/platform.ts';

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * Tokens an attacker could present, each wrong in exactly one way. Those
 * signed with the platform's real key prove the claim checks, not only the
 * signature check, reject them.
 */
export async function forgedTokens(platform: Platform, victim: { userId: string; tenantId: string; validToken: string }, otherTenantId: string) {
  const [real] = await platform.withIdentity((tx) => loadSigningKeys(tx, platform.keyring));
  const now = Math.floor(Date.now() / 1000);
  const claims = { tid: victim.tenantId, roles: ['owner'], sid: randomUUID() };
  const base = (key = real!.privateKey, kid = real!.kid) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' }).setSubject(victim.userId);
  const good = (b: SignJWT) => b.setIssuer(platform.config.issuer).setAudience(platform.config.audience);

  const attacker = generateKeyPairSync('ed25519');
  const [h, , s] = victim.validToken.split('.');
  const payload = JSON.parse(Buffer.from(victim.validToken.split('.')[1]!, 'base64url').toString());

  return {
    'signed by another key under the real kid': await good(base(attacker.privateKey)).setIssuedAt().setExpirationTime('5m').sign(attacker.privateKey),
    expired: await good(base()).setIssuedAt(now - 3600).setExpirationTime(now - 600).sign(real!.privateKey),
    'wrong issuer': await base().setIssuer('https://evil.example').setAudience(platform.config.audience).setIssuedAt().setExpirationTime('5m').sign(real!.privateKey),
    'wrong audience': await base().setIssuer(platform.config.issuer).setAudience('another-api').setIssuedAt().setExpirationTime('5m').sign(real!.privateKey),
    'wrong typ (not an access token)': await good(new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: real!.kid }).setSubject(victim.userId))
      .setIssuedAt().setExpirationTime('5m').sign(real!.privateKey),
    'unknown role claim': await good(new SignJWT({ ...claims, roles: ['superadmin'] }).setProtectedHeader({ alg: 'EdDSA', kid: real!.kid, typ: 'at+jwt' }).setSubject(victim.userId))
      .setIssuedAt().setExpirationTime('5m').sign(real!.privateKey),
    'alg none': `${b64url({ alg: 'none', typ: 'at+jwt' })}.${b64url({ ...payload })}.`,
    'HS256 keyed with the public JWK': await good(new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: real!.kid, typ: 'at+jwt' }).setSubject(victim.userId))
      .setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(JSON.stringify(real!.publicJwk))),
    'HS256 keyed with the raw public key': await good(new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: real!.kid, typ: 'at+jwt' }).setSubject(victim.userId))
      .setIssuedAt().setExpirationTime('5m').sign(Buffer.from(String(real!.publicJwk.x), 'base64url')),
    'payload switched to another tenant': `${h}.${b64url({ ...payload, tid: otherTenantId })}.${s}`,
    'signature stripped': `${h}.${victim.validToken.split('.')[1]}.`,
    'garbage': 'not-a-jwt',
  };
}

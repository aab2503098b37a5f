import { createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { KeyObject } from 'node:crypto';
import { isRole, type Role } from '../access/permissions.ts';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: Record<string, unknown>;
}

export interface AccessClaims {
  sub: string;
  tid: string;
  roles: Role[];
  sid: string;
  exp: number;
}

export class InvalidTokenError extends Error {
  readonly code = 'ERR_INVALID_TOKEN';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CACHE_MAX = 10_000;

/**
 * The built-in issuer: EdDSA (Ed25519) JWTs, verified against our own JWKS with
 * an algorithm allowlist. Verified tokens are cached by their exact text until
 * `exp`: an entry only exists after a full verification, so the cache can make
 * a request faster but never makes a token valid (DESIGN.md §8).
 */
export class AccessTokenIssuer {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  #current: SigningKey;
  #jwks: JSONWebKeySet;
  #keySet: ReturnType<typeof createLocalJWKSet>;
  #verified = new Map<string, AccessClaims>();

  constructor(opts: { keys: SigningKey[]; issuer: string; audience: string; ttlSeconds: number }) {
    const current = opts.keys[0];
    if (!current) throw new Error('at least one signing key is required');
    this.#current = current;
    this.issuer = opts.issuer;
    this.audience = opts.audience;
    this.ttlSeconds = opts.ttlSeconds;
    this.#jwks = { keys: opts.keys.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: 'EdDSA', use: 'sig' })) };
    this.#keySet = createLocalJWKSet(this.#jwks);
  }

  jwks(): JSONWebKeySet {
    return this.#jwks;
  }

  async issue(claims: { sub: string; tid: string; roles: Role[]; sid: string }): Promise<string> {
    return new SignJWT({ tid: claims.tid, roles: claims.roles, sid: claims.sid })
      .setProtectedHeader({ alg: 'EdDSA', kid: this.#current.kid, typ: 'at+jwt' })
      .setSubject(claims.sub)
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.#current.privateKey);
  }

  async verify(token: string): Promise<AccessClaims> {
    const now = Math.floor(Date.now() / 1000);
    const hit = this.#verified.get(token);
    if (hit) {
      if (hit.exp > now) return hit;
      this.#verified.delete(token);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#keySet, {
        algorithms: ['EdDSA'],
        issuer: this.issuer,
        audience: this.audience,
        typ: 'at+jwt',
        clockTolerance: 5,
        requiredClaims: ['sub', 'exp', 'iat', 'iss', 'aud'],
      }));
    } catch {
      throw new InvalidTokenError('token failed verification');
    }
    const claims = parseClaims(payload);
    if (this.#verified.size >= CACHE_MAX) {
      const oldest = this.#verified.keys().next().value;
      if (oldest !== undefined) this.#verified.delete(oldest);
    }
    this.#verified.set(token, claims);
    return claims;
  }
}

function parseClaims(p: JWTPayload): AccessClaims {
  const { sub, tid, sid, roles, exp } = p as Record<string, unknown>;
  if (typeof sub !== 'string' || !UUID.test(sub)) throw new InvalidTokenError('bad sub');
  if (typeof tid !== 'string' || !UUID.test(tid)) throw new InvalidTokenError('bad tid');
  if (typeof sid !== 'string' || !UUID.test(sid)) throw new InvalidTokenError('bad sid');
  if (!Array.isArray(roles) || roles.length === 0 || !roles.every(isRole)) throw new InvalidTokenError('bad roles');
  if (typeof exp !== 'number') throw new InvalidTokenError('bad exp');
  return { sub, tid, sid, roles: roles as Role[], exp };
}

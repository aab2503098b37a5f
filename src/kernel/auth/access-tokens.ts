import { createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { isBuiltInRole as isRole, type BuiltInRole as Role } from '../access/catalog.ts';
import { isUuid } from '../ids.ts';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: Record<string, unknown>;
  createdAt: Date;
}

/** Seconds a new key is published before it signs (see signing-keys.ts). */
const PROPAGATION_MS = 60_000;

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
  #keys: SigningKey[] = [];
  #jwks: JSONWebKeySet = { keys: [] };
  #keySet!: ReturnType<typeof createLocalJWKSet>;
  readonly #verified = new LRUCache<string, AccessClaims>({ max: CACHE_MAX });
  #reload: ReturnType<typeof setInterval> | undefined;

  constructor(opts: { keys: SigningKey[]; issuer: string; audience: string; ttlSeconds: number }) {
    this.issuer = opts.issuer;
    this.audience = opts.audience;
    this.ttlSeconds = opts.ttlSeconds;
    this.setKeys(opts.keys);
  }

  /** Replaces the key set (rotation): JWKS serves every non-retired key. */
  setKeys(keys: SigningKey[]): void {
    if (keys.length === 0) throw new Error('at least one signing key is required');
    // A retired key takes its cached verifications with it.
    if (this.#keys.some((old) => !keys.some((k) => k.kid === old.kid))) this.#verified.clear();
    this.#keys = [...keys].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    this.#jwks = { keys: this.#keys.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: 'EdDSA', use: 'sig' })) };
    this.#keySet = createLocalJWKSet(this.#jwks);
  }

  /** Reloads keys periodically so a rotation reaches every node before the new key signs. */
  reloadEvery(ms: number, load: () => Promise<SigningKey[]>, onError: (err: unknown) => void): void {
    this.#reload = setInterval(() => void load().then((k) => this.setKeys(k), onError), ms);
    this.#reload.unref();
  }

  close(): void {
    clearInterval(this.#reload);
  }

  /** The newest key that has been published long enough; the oldest one on a fresh install. */
  #signingKey(): SigningKey {
    const ready = Date.now() - PROPAGATION_MS;
    return this.#keys.find((k) => k.createdAt.getTime() <= ready) ?? this.#keys.at(-1)!;
  }

  jwks(): JSONWebKeySet {
    return this.#jwks;
  }

  async issue(claims: { sub: string; tid: string; roles: Role[]; sid: string }): Promise<string> {
    const signer = this.#signingKey();
    return new SignJWT({ tid: claims.tid, roles: claims.roles, sid: claims.sid })
      .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'at+jwt' })
      .setSubject(claims.sub)
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(signer.privateKey);
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
    // The entry goes when the token expires; the exp check above holds hits to the clock jose verified against.
    const ttl = claims.exp * 1000 - Date.now();
    if (ttl > 0) this.#verified.set(token, claims, { ttl });
    return claims;
  }
}

function parseClaims(p: JWTPayload): AccessClaims {
  const { sub, tid, sid, roles, exp } = p as Record<string, unknown>;
  if (!isUuid(sub)) throw new InvalidTokenError('bad sub');
  if (!isUuid(tid)) throw new InvalidTokenError('bad tid');
  if (!isUuid(sid)) throw new InvalidTokenError('bad sid');
  // At most one built-in role; none for a member holding custom roles only (permissions come from the session check).
  if (!Array.isArray(roles) || roles.length > 1 || !roles.every(isRole)) throw new InvalidTokenError('bad roles');
  if (typeof exp !== 'number') throw new InvalidTokenError('bad exp');
  return { sub, tid, sid, roles: roles as Role[], exp };
}

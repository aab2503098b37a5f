import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { validateIssuerConfig, type LocalRole as Role, type OidcIssuerConfig } from '../../config/oidc-issuers.ts';

export { validateIssuerConfig, type OidcIssuerConfig };

/**
 * External OpenID Connect access/ID tokens (Clerk, Auth0, Keycloak, any
 * RFC 9068 provider). Keys come only from the issuer's configured JWKS URL
 * (cached for at most `tokenCacheSeconds`, with jose's cooldown); algorithms
 * only from the allowlist, so `none` and HS* signed with a public key never
 * verify; the issuer must match exactly; the audience must be allowlisted, and
 * the client must be: `azp` (OIDC Core §2, which Clerk sets instead of `aud`)
 * or `client_id` (RFC 9068 §2.2, JWT access tokens). Clerk's organisation
 * claims are the worked example in docs.
 */

export interface ExternalIdentity {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  /** Local tenant id (tenant-bound issuer) or the external organisation id to resolve. */
  tenant: { localId: string } | { externalId: string };
  role: Role;
  expiresAt: number;
  /** The signing key's id, so a cached verification can be dropped when the provider withdraws the key. */
  kid: string | undefined;
}

/** Why an external token was refused: logged and counted, never the token itself. */
export type ExternalRefusal =
  | 'unknown-issuer'
  | 'signature'
  | 'audience'
  | 'client'
  | 'expired'
  | 'claims'
  | 'role-unmapped'
  | 'tenant-claim'
  | 'unmapped-organisation'
  | 'unverified-email'
  | 'jwks-unavailable';

export class OidcError extends Error {
  readonly code = 'ERR_OIDC_TOKEN';
  readonly reason: ExternalRefusal;

  constructor(reason: ExternalRefusal, message: string) {
    super(message);
    this.reason = reason;
  }
}

export const DEFAULT_TOKEN_CACHE_SECONDS = 60;

/** jose's verification errors → the refusal reason an operator can act on. */
function refusalOf(err: unknown): ExternalRefusal {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) return err.claim === 'aud' ? 'audience' : err.claim === 'iss' ? 'unknown-issuer' : 'claims';
  if (err instanceof errors.JWKSTimeout || (err instanceof Error && !(err instanceof errors.JOSEError))) return 'jwks-unavailable';
  return 'signature';
}



/** The client a token was issued to: `azp` (OIDC), else `client_id` (RFC 9068 §2.2). Both, when present, must be allowed. */
function clientsOf(payload: JWTPayload): unknown[] {
  return [payload.azp, (payload as { client_id?: unknown }).client_id].filter((c) => c !== undefined);
}

export class OidcVerifier {
  readonly #issuers = new Map<string, { config: OidcIssuerConfig; jwks: ReturnType<typeof createRemoteJWKSet> }>();

  constructor(configs: OidcIssuerConfig[]) {
    for (const config of configs) {
      const problems = validateIssuerConfig(config);
      if (problems.length) throw new Error(`OIDC issuer configuration: ${problems.join('; ')}`);
      const cacheMs = this.cacheSeconds(config) * 1000;
      // A key the provider withdrew stops verifying within the cache bound: the JWKS is refetched at
      // least that often, and a missing kid may trigger a refetch after half of it.
      this.#issuers.set(config.issuer, {
        config,
        jwks: createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: Math.min(30_000, cacheMs / 2), cacheMaxAge: cacheMs, timeoutDuration: 5_000 }),
      });
    }
  }

  cacheSeconds(config: OidcIssuerConfig): number {
    return config.tokenCacheSeconds ?? DEFAULT_TOKEN_CACHE_SECONDS;
  }

  /** The verified token's issuer configuration (for its cache bound). */
  issuer(iss: string): OidcIssuerConfig | undefined {
    return this.#issuers.get(iss)?.config;
  }

  /**
   * Whether the key that signed a cached token is still in its issuer's JWKS as
   * last fetched: a key withdrawn at the provider drops its tokens at the next
   * JWKS refresh, not only when their cache entry ends.
   */
  keyStillPublished(iss: string, kid: string | undefined): boolean {
    const entry = this.#issuers.get(iss);
    if (!entry || kid === undefined) return entry !== undefined;
    const keys = entry.jwks.jwks()?.keys;
    return keys === undefined || keys.some((k) => k.kid === kid);
  }

  get size(): number {
    return this.#issuers.size;
  }

  /** Whether the token claims one of our issuers (unverified peek, only to pick the verifier). */
  handles(token: string): boolean {
    const iss = peekIssuer(token);
    return iss !== undefined && this.#issuers.has(iss);
  }

  async verify(token: string): Promise<ExternalIdentity> {
    const iss = peekIssuer(token);
    const entry = iss === undefined ? undefined : this.#issuers.get(iss);
    if (!entry) throw new OidcError('unknown-issuer', 'unknown issuer');
    const { config } = entry;
    let payload: JWTPayload;
    let kid: string | undefined;
    try {
      const verified = await jwtVerify(token, entry.jwks, {
        issuer: config.issuer,
        algorithms: config.algorithms,
        clockTolerance: config.clockToleranceSeconds ?? 30,
        requiredClaims: ['sub', 'exp', 'iat'],
        ...(config.audiences?.length ? { audience: config.audiences } : {}),
      });
      payload = verified.payload;
      kid = verified.protectedHeader.kid;
    } catch (err) {
      throw new OidcError(refusalOf(err), 'token failed verification');
    }
    // With a client list, the token must name a client, and every client it names must be listed.
    if (config.authorizedParties?.length) {
      const clients = clientsOf(payload);
      if (clients.length === 0 || !clients.every((c) => typeof c === 'string' && config.authorizedParties!.includes(c))) {
        throw new OidcError('client', 'client not allowed');
      }
    }
    const claims = payload as Record<string, unknown>;
    const externalRole = claims[config.roleClaim];
    const role = typeof externalRole === 'string' && Object.hasOwn(config.roleMap, externalRole) ? config.roleMap[externalRole] : undefined;
    if (!role) throw new OidcError('role-unmapped', 'role not mapped');
    let tenant: ExternalIdentity['tenant'];
    if (config.tenantId) tenant = { localId: config.tenantId };
    else {
      const org = claims[config.tenantClaim!];
      if (typeof org !== 'string' || org.length === 0 || org.length > 200) throw new OidcError('tenant-claim', 'tenant claim missing');
      tenant = { externalId: org };
    }
    return {
      kid,
      issuer: config.issuer,
      subject: String(payload.sub),
      email: typeof claims.email === 'string' ? claims.email : null,
      emailVerified: claims.email_verified === true,
      tenant,
      role,
      expiresAt: Number(payload.exp),
    };
  }
}

/** The `iss` a JWT claims, unverified: only to pick a verifier, or to name an unknown issuer in a refusal. */
export function peekIssuer(token: string): string | undefined {
  const part = token.split('.')[1];
  if (!part || token.split('.').length !== 3) return undefined;
  try {
    const iss = (JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { iss?: unknown }).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

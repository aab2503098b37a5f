import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { isRole, type Role } from '../access/permissions.ts';

/**
 * External OpenID Connect access/ID tokens (Clerk, Auth0, Keycloak …).
 * Keys come only from the issuer's configured JWKS URL (cached, with jose's
 * cooldown); algorithms only from the allowlist, so `none` and HS* signed with
 * a public key never verify; the issuer must match exactly; the audience or
 * the authorised party (`azp`, which Clerk sets instead of `aud`) must be
 * allowlisted. Clerk's organisation claims are the worked example in docs.
 */
export interface OidcIssuerConfig {
  issuer: string;
  jwksUrl: string;
  /** Allowed `aud` values; at least one of audiences / authorizedParties is required. */
  audiences?: string[];
  /** Allowed `azp` values. */
  authorizedParties?: string[];
  algorithms: string[];
  clockToleranceSeconds?: number;
  /** A tenant-bound issuer: every token maps to this local tenant. */
  tenantId?: string;
  /** Otherwise the claim that names the external organisation (Clerk: `org_id`). */
  tenantClaim?: string;
  /** Claim holding the external role (Clerk: `org_role`) and its mapping to local roles. */
  roleClaim: string;
  roleMap: Record<string, Role>;
}

export interface ExternalIdentity {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  /** Local tenant id (tenant-bound issuer) or the external organisation id to resolve. */
  tenant: { localId: string } | { externalId: string };
  role: Role;
  expiresAt: number;
}

export class OidcError extends Error {
  readonly code = 'ERR_OIDC_TOKEN';
}

const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$/;

export function validateIssuerConfig(c: OidcIssuerConfig): string[] {
  const problems: string[] = [];
  const where = `issuer ${c.issuer || '(missing)'}`;
  try {
    if (new URL(c.issuer).protocol !== 'https:' && !/^http:\/\/(127\.0\.0\.1|localhost)/.test(c.issuer)) problems.push(`${where}: must be https`);
  } catch {
    problems.push(`${where}: issuer is not a URL`);
  }
  try {
    new URL(c.jwksUrl);
  } catch {
    problems.push(`${where}: jwksUrl is not a URL`);
  }
  if (!c.algorithms?.length || !c.algorithms.every((a) => ASYMMETRIC.test(a))) problems.push(`${where}: algorithms must be a non-empty list of asymmetric JWS algorithms`);
  if (!c.audiences?.length && !c.authorizedParties?.length) problems.push(`${where}: set audiences or authorizedParties`);
  if (!c.tenantId && !c.tenantClaim) problems.push(`${where}: set tenantId or tenantClaim`);
  if (!c.roleClaim || !c.roleMap || Object.values(c.roleMap).some((r) => !isRole(r))) problems.push(`${where}: roleClaim and a roleMap onto local roles are required`);
  return problems;
}

export class OidcVerifier {
  readonly #issuers = new Map<string, { config: OidcIssuerConfig; jwks: ReturnType<typeof createRemoteJWKSet> }>();

  constructor(configs: OidcIssuerConfig[]) {
    for (const config of configs) {
      const problems = validateIssuerConfig(config);
      if (problems.length) throw new OidcError(problems.join('; '));
      this.#issuers.set(config.issuer, { config, jwks: createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 5_000 }) });
    }
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
    if (!entry) throw new OidcError('unknown issuer');
    const { config } = entry;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, entry.jwks, {
        issuer: config.issuer,
        algorithms: config.algorithms,
        clockTolerance: config.clockToleranceSeconds ?? 30,
        requiredClaims: ['sub', 'exp', 'iat'],
        ...(config.audiences?.length ? { audience: config.audiences } : {}),
      }));
    } catch {
      throw new OidcError('token failed verification');
    }
    if (!config.audiences?.length) {
      const azp = payload.azp;
      if (typeof azp !== 'string' || !config.authorizedParties?.includes(azp)) throw new OidcError('azp not allowed');
    } else if (config.authorizedParties?.length && payload.azp !== undefined && !config.authorizedParties.includes(String(payload.azp))) {
      throw new OidcError('azp not allowed');
    }
    const claims = payload as Record<string, unknown>;
    const externalRole = claims[config.roleClaim];
    const role = typeof externalRole === 'string' ? config.roleMap[externalRole] : undefined;
    if (!role) throw new OidcError('role not mapped');
    let tenant: ExternalIdentity['tenant'];
    if (config.tenantId) tenant = { localId: config.tenantId };
    else {
      const org = claims[config.tenantClaim!];
      if (typeof org !== 'string' || org.length === 0 || org.length > 200) throw new OidcError('tenant claim missing');
      tenant = { externalId: org };
    }
    return {
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

function peekIssuer(token: string): string | undefined {
  const part = token.split('.')[1];
  if (!part || token.split('.').length !== 3) return undefined;
  try {
    const iss = (JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { iss?: unknown }).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

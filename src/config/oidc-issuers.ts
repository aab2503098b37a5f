/**
 * External OpenID Connect issuers (OCSUITE_OIDC_ISSUERS): their shape and the
 * checks made when the configuration is loaded, so a bad issuer stops start-up
 * with every problem named. The verifier lives in kernel/auth/oidc.ts.
 */

/** The built-in roles an external role may map onto (kernel/access/catalog.ts BUILT_IN_ROLES; a test keeps them equal). */
export const LOCAL_ROLES = ['viewer', 'member', 'admin', 'owner'] as const;
export type LocalRole = (typeof LOCAL_ROLES)[number];

const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$/;

export interface OidcIssuerConfig {
  issuer: string;
  jwksUrl: string;
  /** Allowed `aud` values; at least one of audiences / authorizedParties is required. */
  audiences?: string[];
  /** Allowed clients: a token's `azp`, else its `client_id` (RFC 9068), must be one of them; a token naming no client is refused. */
  authorizedParties?: string[];
  /** How long a verified token (and the issuer's JWKS) is trusted before it is checked again (default 60 s). */
  tokenCacheSeconds?: number;
  algorithms: string[];
  clockToleranceSeconds?: number;
  /** A tenant-bound issuer: every token maps to this local tenant. */
  tenantId?: string;
  /** Otherwise the claim that names the external organisation (Clerk: `org_id`). */
  tenantClaim?: string;
  /** Claim holding the external role (Clerk: `org_role`) and its mapping to local roles. */
  roleClaim: string;
  roleMap: Record<string, LocalRole>;
}

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
  if (!c.roleClaim || !c.roleMap || Object.values(c.roleMap).some((r) => !(LOCAL_ROLES as readonly string[]).includes(r))) problems.push(`${where}: roleClaim and a roleMap onto local roles are required`);
  if (c.tokenCacheSeconds !== undefined && !(Number.isInteger(c.tokenCacheSeconds) && c.tokenCacheSeconds >= 1 && c.tokenCacheSeconds <= 300)) {
    problems.push(`${where}: tokenCacheSeconds must be an integer from 1 to 300`);
  }
  return problems;
}

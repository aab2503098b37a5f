import { sql } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import type { Platform } from '../platform.ts';
import { isBuiltInRole, SESSION_PERMISSION, type Permission } from '../access/catalog.ts';
import { hashApiKey } from './api-keys.ts';
import type { ExternalIdentity } from './oidc.ts';
import type { Principal } from './principal.ts';

/**
 * Turning a verified credential into a Principal, for the two credentials that
 * need the database: API keys (looked up by hash on every request, so a
 * revocation applies to the very next request) and external OIDC identities
 * (tenant and user resolved, users linked by verified email on first sight).
 */
const LAST_USED_WRITE_MS = 60_000;
/** Keys whose last_used_at this process wrote less than a minute ago; one forgotten early costs one more write. */
const lastUsedWritten = new LRUCache<string, true>({ max: 10_000, ttl: LAST_USED_WRITE_MS });
/** Uses of each key not written yet (module insights read use_count); an evicted entry loses only a count. */
const unwritten = new LRUCache<string, { tenantId: string; uses: number; lastAt: Date }>({ max: 10_000 });

/**
 * Usage bookkeeping off the critical path: the first use writes at once, later ones are added up and
 * written together at the end of the minute, so a hot key costs one write a minute per process.
 */
function countUse(platform: Platform, tenantId: string, id: string): void {
  const entry = unwritten.get(id) ?? { tenantId, uses: 0, lastAt: new Date() };
  entry.uses += 1;
  entry.lastAt = new Date();
  unwritten.set(id, entry);
  if (lastUsedWritten.has(id)) return;
  lastUsedWritten.set(id, true);
  writeUses(platform, id);
  // The uses of the rest of the minute are written when it ends; the next use after that writes at once again.
  setTimeout(() => {
    lastUsedWritten.delete(id);
    writeUses(platform, id);
  }, LAST_USED_WRITE_MS).unref();
}

function writeUses(platform: Platform, id: string): void {
  const entry = unwritten.get(id);
  if (!entry) return;
  unwritten.delete(id);
  const putBack = () => {
    const now = unwritten.get(id);
    unwritten.set(id, { tenantId: entry.tenantId, uses: entry.uses + (now?.uses ?? 0), lastAt: now?.lastAt ?? entry.lastAt });
    lastUsedWritten.delete(id);
  };
  try {
    void platform
      .withIdentity((tx) => tx.query(sql`
        UPDATE api_keys SET last_used_at = greatest(last_used_at, ${entry.lastAt.toISOString()}::timestamptz), use_count = use_count + ${entry.uses}
        WHERE tenant_id = ${entry.tenantId} AND id = ${id}`))
      .catch(putBack);
  } catch {
    putBack();
  }
}

export async function principalFromApiKey(platform: Platform, key: string): Promise<Principal | null> {
  const hash = hashApiKey(key);
  // A key acts for its creator: it stops when the creator leaves the tenant, and never holds
  // more than the creator's current role allows (a demotion narrows every key they made).
  const [row] = await platform.withIdentity((tx) =>
    tx.query<{ tenant_id: string; id: string; scopes: string[]; creator_role: string | null; creator_member: boolean; creator_custom: string[] }>(sql`
      SELECT k.tenant_id, k.id, k.scopes, m.role AS creator_role, m.user_id IS NOT NULL AS creator_member,
        ARRAY(SELECT DISTINCT p FROM member_roles mr JOIN tenant_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id, unnest(r.permissions) p
              WHERE mr.tenant_id = k.tenant_id AND mr.user_id = k.created_by) AS creator_custom
      FROM api_keys k JOIN tenants t ON t.id = k.tenant_id AND t.status = 'active' AND t.deleted_at IS NULL
      LEFT JOIN memberships m ON m.tenant_id = k.tenant_id AND m.user_id = k.created_by
      WHERE k.secret_hash = ${hash} AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())`),
  );
  if (!row || !row.creator_member) return null;
  const allowed = platform.permissions.permissionsOf(isBuiltInRole(row.creator_role) ? [row.creator_role] : [], [row.creator_custom]);
  // last_used_at and use_count are bookkeeping: written at most about once a minute per key, off the critical path.
  countUse(platform, row.tenant_id, row.id);
  const permissions = new Set<Permission>(row.scopes.filter((s) => platform.permissions.has(s) && s !== SESSION_PERMISSION && allowed.has(s)));
  return { kind: 'api_key', userId: null, keyId: row.id, tenantId: row.tenant_id, roles: [], sessionId: null, permissions, mfaAt: null };
}

export class UnmappedIdentityError extends Error {
  readonly code = 'ERR_EXTERNAL_IDENTITY_UNMAPPED';
  readonly reason: 'unmapped-organisation' | 'unverified-email';

  constructor(reason: UnmappedIdentityError['reason'], message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Resolves an external identity to a local tenant and user; links a new subject by verified email only. */
export async function principalFromExternal(platform: Platform, id: ExternalIdentity): Promise<Principal> {
  return platform.withIdentity(async (tx) => {
    const [tenant] = 'localId' in id.tenant
      ? await tx.query<{ id: string }>(sql`SELECT id FROM tenants WHERE id = ${id.tenant.localId} AND status = 'active'`)
      : await tx.query<{ id: string }>(sql`
          SELECT t.id FROM external_tenants e JOIN tenants t ON t.id = e.tenant_id AND t.status = 'active'
          WHERE e.issuer = ${id.issuer} AND e.external_id = ${id.tenant.externalId}`);
    if (!tenant) throw new UnmappedIdentityError('unmapped-organisation', 'no local tenant for this organisation');
    let [link] = await tx.query<{ user_id: string }>(sql`SELECT user_id FROM external_identities WHERE issuer = ${id.issuer} AND subject = ${id.subject}`);
    if (!link) {
      if (!id.email || !id.emailVerified) throw new UnmappedIdentityError('unverified-email', 'first sight needs a verified email');
      const [existing] = await tx.query<{ id: string; verified: boolean }>(sql`
        SELECT id, email_verified_at IS NOT NULL AS verified FROM users WHERE email_normalized = lower(${id.email})`);
      // A local account whose address was never proven may have been registered by someone else.
      if (existing && !existing.verified) throw new UnmappedIdentityError('unverified-email', 'the local account with this email is not verified');
      const userId = existing?.id
        ?? (await tx.query<{ id: string }>(sql`INSERT INTO users (email, email_verified_at) VALUES (${id.email}, now()) RETURNING id`))[0]!.id;
      await tx.query(sql`INSERT INTO external_identities (issuer, subject, user_id) VALUES (${id.issuer}, ${id.subject}, ${userId}) ON CONFLICT DO NOTHING`);
      [link] = await tx.query<{ user_id: string }>(sql`SELECT user_id FROM external_identities WHERE issuer = ${id.issuer} AND subject = ${id.subject}`);
    }
    return {
      kind: 'user',
      userId: link!.user_id,
      keyId: null,
      tenantId: tenant.id,
      roles: [id.role],
      sessionId: null,
      permissions: platform.permissions.permissionsOf([id.role]),
      mfaAt: null,
    } satisfies Principal;
  });
}

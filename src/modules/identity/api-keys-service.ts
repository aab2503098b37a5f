import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { ProblemError } from '../../http/problem.ts';
import { newApiKey, validScopes } from '../../kernel/auth/api-keys.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import type { Platform } from '../../kernel/platform.ts';

export interface ApiKey {
  id: string;
  name: string;
  scopes: string[];
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

interface Row {
  id: string;
  name: string;
  scopes: string[];
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
}
const apiKeyOf = (r: Row): ApiKey => ({
  id: r.id, name: r.name, scopes: r.scopes, createdAt: r.created_at, expiresAt: r.expires_at, lastUsedAt: r.last_used_at,
});

/** Creates a key whose scopes do not exceed its creator's own permissions; the secret is returned once, stored as a hash. */
export async function createApiKey(
  platform: Platform,
  principal: Principal,
  input: { name: string; scopes: string[]; expiresInDays?: number | undefined },
): Promise<{ apiKey: ApiKey; key: string }> {
  const { scopes } = input;
  if (!validScopes(platform.permissions, scopes)) throw new ProblemError('validation-failed', 400, 'Unknown scope.');
  const beyond = scopes.filter((s) => !principal.permissions.has(s));
  if (beyond.length) throw new ProblemError('role-escalation', 403, `You cannot grant scopes you do not hold: ${beyond.join(', ')}.`);
  const { key, hash } = newApiKey();
  const days = input.expiresInDays;
  const [row] = await platform.withTenant(contextOf(principal), async (tx) => {
    const rows = await tx.query<Row>(sql`
      INSERT INTO api_keys (tenant_id, name, secret_hash, scopes, created_by, expires_at)
      VALUES (${principal.tenantId}, ${input.name}, ${hash}, ${sql.param(scopes)}::text[], ${principal.userId}, ${days ? sql`now() + make_interval(days => ${days})` : sql`NULL`})
      RETURNING id, name, scopes, created_at, expires_at, last_used_at`);
    await recordAuditEvent(tx, {
      tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'apikey.created', target: { type: 'api_key', id: rows[0]?.id },
      outcome: 'success', metadata: { scopes, expiresInDays: days ?? null },
      // The key's name is whatever its creator typed ("Jane's laptop"): personal, kept beside the log.
      personal: { fields: { name: input.name }, userId: principal.userId },
    });
    return rows;
  });
  return { apiKey: apiKeyOf(row!), key };
}

/** The tenant's keys that are not revoked, newest first. */
export async function listApiKeys(platform: Platform, principal: Principal): Promise<ApiKey[]> {
  const rows = await platform.queryAsTenant<Row>(contextOf(principal), sql`
    SELECT id, name, scopes, created_at, expires_at, last_used_at FROM api_keys
    WHERE revoked_at IS NULL ORDER BY created_at DESC LIMIT 1000`);
  return rows.map(apiKeyOf);
}

/** Revokes a key of the tenant; false when there is no live key by that id. */
export async function revokeApiKey(platform: Platform, principal: Principal, id: string): Promise<boolean> {
  return platform.withTenant(contextOf(principal), async (tx) => {
    const revoked = await tx.query(sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${id} AND revoked_at IS NULL RETURNING id`);
    if (revoked.length === 0) return false;
    await recordAuditEvent(tx, { tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'apikey.revoked', target: { type: 'api_key', id }, outcome: 'success' });
    return true;
  });
}

/**
 * Machine principals of installed modules (marketplace): an API key with exactly `scopes`, issued
 * inside the caller's transaction so the install and its credential commit or fail together. Like
 * every key it acts for its creator (never beyond their current permissions, dead once they leave).
 * The caller checks the scopes against the catalogue and the creator's permissions, and audits.
 */
export async function issueMachineCredential(
  tx: Session,
  input: { tenantId: string; name: string; scopes: readonly string[]; createdBy: string | null },
): Promise<{ id: string; key: string }> {
  const { key, hash } = newApiKey();
  const [row] = await tx.query<{ id: string }>(sql`
    INSERT INTO api_keys (tenant_id, name, secret_hash, scopes, created_by)
    VALUES (${input.tenantId}, ${input.name}, ${hash}, ${sql.param([...input.scopes])}::text[], ${input.createdBy})
    RETURNING id`);
  return { id: row!.id, key };
}

/** Revokes a machine credential in the caller's transaction: the next request with it is a 401. */
export async function revokeMachineCredential(tx: Session, id: string): Promise<void> {
  await tx.query(sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${id} AND revoked_at IS NULL`);
}

export interface MachineCredentialUsage {
  id: string;
  createdBy: string | null;
  useCount: number;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** Usage of machine credentials of the transaction's tenant (uses are written about once a minute). */
export async function machineCredentialUsage(tx: Session, ids: readonly string[]): Promise<Map<string, MachineCredentialUsage>> {
  if (ids.length === 0) return new Map();
  const rows = await tx.query<{ id: string; created_by: string | null; use_count: string | number; last_used_at: Date | null; revoked_at: Date | null }>(sql`
    SELECT id, created_by, use_count, last_used_at, revoked_at FROM api_keys WHERE id = ANY (${sql.param([...ids])}::uuid[])`);
  return new Map(rows.map((r) => [r.id, { id: r.id, createdBy: r.created_by, useCount: Number(r.use_count), lastUsedAt: r.last_used_at, revokedAt: r.revoked_at }]));
}

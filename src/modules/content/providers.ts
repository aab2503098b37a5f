import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { notFound, ProblemError } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { lastFour } from '../../kernel/crypto/index.ts';
import { openWithWrappedKey, sealSecretForTenant, wrappedKeyFor } from '../../kernel/crypto/tenant-keys.ts';
import type { Platform } from '../../kernel/platform.ts';
import { openAiCompatibleProvider } from './openai-provider.ts';
import { offlineProvider, type ContentProvider } from './provider-port.ts';

/** The sealed column of this table (key rotation walks it). */
export const KEY_CELL = { table: 'content_providers', column: 'key_sealed' } as const;

interface ProviderRow {
  id: string;
  name: string;
  kind: 'openai-compatible' | 'offline';
  base_url: string | null;
  model: string;
  key_fingerprint: string | null;
  key_last_four: string | null;
  timeout_ms: number;
  is_default: boolean;
  created_at: Date;
}

/** Never `key_sealed`: the key goes in and does not come out. */
const columns = sql`id, name, kind, base_url, model, key_fingerprint, key_last_four, timeout_ms, is_default, created_at`;

const view = (r: ProviderRow) => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  baseUrl: r.base_url,
  model: r.model,
  hasKey: r.key_fingerprint !== null,
  keyFingerprint: r.key_fingerprint,
  keyLastFour: r.key_last_four,
  timeoutMs: r.timeout_ms,
  isDefault: r.is_default,
  createdAt: new Date(r.created_at).toISOString(),
});

export interface CreateProviderInput {
  name: string;
  kind: 'openai-compatible' | 'offline';
  baseUrl?: string | undefined;
  model: string;
  apiKey?: string | undefined;
  timeoutMs?: number | undefined;
  isDefault?: boolean | undefined;
}

/** A resolved provider for one call: the port, and which row it came from. */
export interface ResolvedProvider {
  id: string | null;
  provider: ContentProvider;
}

export function createProvidersService(platform: Platform) {
  return {
    async list(principal: Principal) {
      const rows = await platform.queryAsTenant<ProviderRow>(contextOf(principal), sql`SELECT ${columns} FROM content_providers ORDER BY created_at, id`);
      return { items: rows.map(view) };
    },

    async create(principal: Principal, input: CreateProviderInput) {
      if (input.kind === 'openai-compatible') {
        if (!input.baseUrl) throw new ProblemError('validation-failed', 400, 'An OpenAI-compatible provider needs a baseUrl.');
        // Refused at once (400 egress-refused) when the URL is not one the platform may reach.
        await platform.egress.check(input.baseUrl);
      } else if (input.baseUrl !== undefined || input.apiKey !== undefined) {
        throw new ProblemError('validation-failed', 400, 'The offline provider takes no baseUrl and no apiKey.');
      }
      const id = randomUUID();
      return platform.withTenant(contextOf(principal), async (tx) => {
        const key = input.apiKey
          ? { ...(await sealSecretForTenant(tx, platform.keyring, { tenantId: principal.tenantId, ...KEY_CELL, rowId: id }, input.apiKey)), lastFour: lastFour(input.apiKey) }
          : null;
        if (input.isDefault) await tx.query(sql`UPDATE content_providers SET is_default = false, updated_at = now() WHERE is_default`);
        const [row] = await tx.query<ProviderRow>(sql`
          INSERT INTO content_providers (tenant_id, id, name, kind, base_url, model, key_sealed, key_fingerprint, key_last_four, timeout_ms, is_default, created_by)
          VALUES (${principal.tenantId}, ${id}, ${input.name}, ${input.kind}, ${input.kind === 'offline' ? null : input.baseUrl!}, ${input.model},
                  ${key?.sealed ?? null}, ${key?.fingerprint ?? null}, ${key?.lastFour ?? null}, ${input.timeoutMs ?? 30_000}, ${input.isDefault ?? false}, ${principal.userId})
          RETURNING ${columns}`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'content.provider_created',
          target: { type: 'content_provider', id }, outcome: 'success',
          metadata: { kind: input.kind, baseUrl: input.kind === 'offline' ? null : input.baseUrl, model: input.model, fingerprint: key?.fingerprint ?? null },
        });
        return view(row!);
      });
    },

    async remove(principal: Principal, idInput: string) {
      const id = idInput.toLowerCase();
      await platform.withTenant(contextOf(principal), async (tx) => {
        const rows = await tx.query<{ kind: string }>(sql`DELETE FROM content_providers WHERE id = ${id} RETURNING kind`);
        if (rows.length === 0) throw notFound('content provider');
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'content.provider_deleted',
          target: { type: 'content_provider', id }, outcome: 'success', metadata: { kind: rows[0]!.kind },
        });
      });
    },

    /**
     * The provider for one call: the one named, else the tenant's default, else the offline
     * provider (the embedded profile works without a network or any configuration).
     * The key is opened here, for this call only, and never leaves the provider object.
     */
    async resolve(tenantId: string, providerId: string | undefined): Promise<ResolvedProvider> {
      const [row] = await platform.queryAsTenant<ProviderRow & { key_sealed: string | null; wrapped: string | null }>({ tenantId }, sql`
        SELECT ${columns}, p.key_sealed, ${wrappedKeyFor(sql`p.tenant_id`, sql`p.key_sealed`)} AS wrapped
        FROM content_providers p
        WHERE ${providerId ? sql`p.id = ${providerId.toLowerCase()}` : sql`p.is_default`}`);
      if (!row) {
        if (providerId) throw notFound('content provider');
        return { id: null, provider: offlineProvider() };
      }
      if (row.kind === 'offline') return { id: row.id, provider: offlineProvider() };
      const apiKey = row.key_sealed
        ? openWithWrappedKey(platform.keyring, { tenantId, ...KEY_CELL, rowId: row.id }, row.key_sealed, row.wrapped).toString('utf8')
        : null;
      return { id: row.id, provider: openAiCompatibleProvider(platform.egress, { baseUrl: row.base_url!, model: row.model, apiKey, timeoutMs: row.timeout_ms }) };
    },
  };
}

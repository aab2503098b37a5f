import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { notFound, ProblemError } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { lastFour } from '../../kernel/crypto/index.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import { sealSecretForTenant } from '../../kernel/crypto/tenant-keys.ts';
import type { Platform } from '../../kernel/platform.ts';
import type { CONNECTOR_KINDS } from './schemas.ts';

/** The one sealed column of this module (registered in kernel/crypto/sealed-columns.ts). */
export const SECRET_CELL = { table: 'connectors', column: 'secret_sealed' } as const;

type Kind = (typeof CONNECTOR_KINDS)[number];
type MetadataValue = string | number | boolean | null;

interface ConnectorRow {
  id: string;
  name: string;
  provider: string;
  kind: Kind;
  scopes: string[];
  metadata: Record<string, MetadataValue>;
  secret_fingerprint: string;
  secret_last_four: string;
  secret_updated_at: Date;
  last_used_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** Never `secret_sealed`: not even the ciphertext leaves the service. */
const columns = sql`id, name, provider, kind, scopes, metadata, secret_fingerprint, secret_last_four, secret_updated_at, last_used_at, created_at, updated_at`;

const view = (r: ConnectorRow) => ({
  id: r.id,
  name: r.name,
  provider: r.provider,
  kind: r.kind,
  scopes: r.scopes,
  metadata: r.metadata,
  secretFingerprint: r.secret_fingerprint,
  secretLastFour: r.secret_last_four,
  secretUpdatedAt: new Date(r.secret_updated_at).toISOString(),
  lastUsedAt: r.last_used_at ? new Date(r.last_used_at).toISOString() : null,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

/** Metadata is shown to every admin and kept in audit context: a secret does not belong there. */
const SECRET_LIKE_KEY = /secret|token|passw|private|credential|api[-_.]?key|bearer/i;
/** "auth" as a word of the key (auth, x-auth, Authorization, authHeader, basicAuth), not inside one (author, oauth_app). */
const AUTH_WORD = [/(?:^|[-_.])auth(?:orization)?(?:[-_.]|$)/i, /^auth(?:orization)?[A-Z0-9]|[a-z0-9]Auth(?:orization)?(?:[A-Z0-9_.-]|$)/];
const secretLike = (key: string) => SECRET_LIKE_KEY.test(key) || AUTH_WORD.some((w) => w.test(key));

function assertPlainMetadata(metadata: Record<string, MetadataValue> | undefined): void {
  const bad = Object.keys(metadata ?? {}).filter(secretLike);
  if (bad.length > 0) {
    throw new ProblemError('validation-failed', 400, `metadata keys ${bad.map((k) => `"${k}"`).join(', ')} look like secrets; put the credential in "secret"`);
  }
}

interface CreateInput {
  name: string;
  provider: string;
  kind: Kind;
  scopes?: string[] | undefined;
  metadata?: Record<string, MetadataValue> | undefined;
  secret: string;
}

interface UpdateInput {
  name?: string | undefined;
  scopes?: string[] | undefined;
  metadata?: Record<string, MetadataValue> | undefined;
  secret?: string | undefined;
}

/**
 * Connectors: third-party credentials of a tenant. Every statement runs in the
 * caller's tenant transaction (RLS); every change is audited in that same
 * transaction. The secret is sealed for its row before it is stored and is
 * never read back here — only useConnectorSecret (secret-use.ts) opens it.
 */
export function createConnectorsService(platform: Platform) {
  const secretColumns = (tx: Session, tenantId: string, id: string, secret: string) =>
    sealSecretForTenant(tx, platform.keyring, { tenantId, ...SECRET_CELL, rowId: id }, secret).then((s) => ({ ...s, lastFour: lastFour(secret) }));

  return {
    /** Oldest first, in pages (keyset over created_at, id: a page never skips or repeats a row). */
    async list(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined } = {}) {
      const limit = q.limit ?? 50;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<ConnectorRow & { cursor_ts: string }>(contextOf(principal), sql`
        SELECT ${columns}, created_at::text AS cursor_ts FROM connectors
        ${after ? sql`WHERE (created_at, id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY created_at, id LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(view), nextCursor };
    },

    async create(principal: Principal, input: CreateInput) {
      assertPlainMetadata(input.metadata);
      const id = randomUUID();
      return platform.withTenant(contextOf(principal), async (tx) => {
        const secret = await secretColumns(tx, principal.tenantId, id, input.secret);
        const [row] = await tx.query<ConnectorRow>(sql`
          INSERT INTO connectors (tenant_id, id, name, provider, kind, scopes, metadata, secret_sealed, secret_fingerprint, secret_last_four, created_by, updated_by)
          VALUES (${principal.tenantId}, ${id}, ${input.name}, ${input.provider}, ${input.kind}, ${sql.param(input.scopes ?? [])}::text[],
            ${JSON.stringify(input.metadata ?? {})}::jsonb, ${secret.sealed}, ${secret.fingerprint}, ${secret.lastFour}, ${principal.userId}, ${principal.userId})
          RETURNING ${columns}`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId,
          actor: auditActorOf(principal),
          action: 'connector.created',
          target: { type: 'connector', id },
          outcome: 'success',
          metadata: { provider: input.provider, kind: input.kind, scopes: input.scopes ?? [], fingerprint: secret.fingerprint },
        });
        return view(row!);
      });
    },

    async update(principal: Principal, idInput: string, input: UpdateInput) {
      // The id is part of the secret's AAD: its canonical (lower-case) form, as the database prints it.
      const id = idInput.toLowerCase();
      assertPlainMetadata(input.metadata);
      return platform.withTenant(contextOf(principal), async (tx) => {
        // Lock the row first: a missing (or another tenant's) id must not seal anything or leave an event.
        const [current] = await tx.query<{ secret_fingerprint: string }>(sql`SELECT secret_fingerprint FROM connectors WHERE id = ${id} FOR UPDATE`);
        if (!current) throw notFound('connector');
        const secret = input.secret === undefined ? undefined : await secretColumns(tx, principal.tenantId, id, input.secret);
        const [row] = await tx.query<ConnectorRow>(sql`
          UPDATE connectors SET
            name = coalesce(${input.name ?? null}, name),
            scopes = coalesce(${input.scopes === undefined ? null : sql.param(input.scopes)}::text[], scopes),
            metadata = coalesce(${input.metadata === undefined ? null : JSON.stringify(input.metadata)}::jsonb, metadata),
            ${secret ? sql`secret_sealed = ${secret.sealed}, secret_fingerprint = ${secret.fingerprint}, secret_last_four = ${secret.lastFour}, secret_updated_at = now(),` : sql``}
            updated_by = ${principal.userId},
            updated_at = now()
          WHERE id = ${id}
          RETURNING ${columns}`);
        const changed = Object.keys(input).filter((k) => k !== 'secret').sort();
        if (changed.length > 0) {
          await recordAuditEvent(tx, {
            tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'connector.updated',
            target: { type: 'connector', id }, outcome: 'success', metadata: { fields: changed },
          });
        }
        if (secret) {
          await recordAuditEvent(tx, {
            tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'connector.secret_rotated',
            target: { type: 'connector', id }, outcome: 'success',
            metadata: { previousFingerprint: current.secret_fingerprint, fingerprint: secret.fingerprint },
          });
        }
        return view(row!);
      });
    },

    async remove(principal: Principal, idInput: string) {
      const id = idInput.toLowerCase();
      await platform.withTenant(contextOf(principal), async (tx) => {
        const rows = await tx.query<{ provider: string; secret_fingerprint: string }>(sql`
          DELETE FROM connectors WHERE id = ${id} RETURNING provider, secret_fingerprint`);
        if (rows.length === 0) throw notFound('connector');
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'connector.deleted',
          target: { type: 'connector', id }, outcome: 'success',
          metadata: { provider: rows[0]!.provider, fingerprint: rows[0]!.secret_fingerprint },
        });
      });
    },
  };
}

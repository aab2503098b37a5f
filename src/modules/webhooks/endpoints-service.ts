import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { notFound } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { generateWebhookSecret } from '../../kernel/webhooks/index.ts';
import { assertSubscribable } from './event-catalogue.ts';
import { openSecrets, sealCurrentSecret, sealPreviousSecret } from './secrets.ts';

interface EndpointRow {
  id: string;
  url: string;
  description: string;
  event_types: string[];
  status: 'enabled' | 'disabled';
  disabled_reason: string | null;
  secret_fingerprint: string;
  previous_secret_expires_at: Date | null;
  consecutive_failures: number;
  last_success_at: Date | null;
  last_failure_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** Never the sealed columns: not even ciphertext leaves the service. */
const columns = sql`id, url, description, event_types, status, disabled_reason, secret_fingerprint, previous_secret_expires_at,
  consecutive_failures, last_success_at, last_failure_at, created_at, updated_at`;

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
const view = (r: EndpointRow) => ({
  id: r.id,
  url: r.url,
  description: r.description,
  eventTypes: r.event_types,
  status: r.status,
  disabledReason: r.disabled_reason,
  secretFingerprint: r.secret_fingerprint,
  previousSecretExpiresAt: r.previous_secret_expires_at && new Date(r.previous_secret_expires_at) > new Date() ? iso(r.previous_secret_expires_at) : null,
  consecutiveFailures: r.consecutive_failures,
  lastSuccessAt: iso(r.last_success_at),
  lastFailureAt: iso(r.last_failure_at),
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
});

/** The URL as an audit trail may keep it: no query string (it may carry a token of the receiver's). */
export const auditableUrl = (url: string) => {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`.slice(0, 300);
  } catch {
    return '(unparsable)';
  }
};

/**
 * Outbound endpoints of a tenant. Every statement runs in the caller's tenant
 * transaction (RLS); every change and every secret rotation is audited in the
 * same transaction. The URL passes the egress guard before anything is written
 * (and again at every delivery: DNS can change).
 */
export function createEndpointsService(platform: Platform) {
  const audit = (tx: Session, principal: Principal, action: string, id: string, metadata: Record<string, unknown>) =>
    recordAuditEvent(tx, { tenantId: principal.tenantId, actor: auditActorOf(principal), action, target: { type: 'webhook_endpoint', id }, outcome: 'success', metadata });

  return {
    async list(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 50;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<EndpointRow & { cursor_ts: string }>(contextOf(principal), sql`
        SELECT ${columns}, created_at::text AS cursor_ts FROM webhook_endpoints
        ${after ? sql`WHERE (created_at, id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY created_at, id LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(view), nextCursor };
    },

    async get(principal: Principal, id: string) {
      const [row] = await platform.queryAsTenant<EndpointRow>(contextOf(principal), sql`SELECT ${columns} FROM webhook_endpoints WHERE id = ${id}`);
      if (!row) throw notFound('webhook endpoint');
      return view(row);
    },

    async create(principal: Principal, input: { url: string; description?: string | undefined; eventTypes: string[] }) {
      assertSubscribable(platform, principal, input.eventTypes);
      await platform.egress.check(input.url);
      const id = randomUUID();
      const secret = generateWebhookSecret();
      return platform.withTenant(contextOf(principal), async (tx) => {
        const sealed = await sealCurrentSecret(platform, tx, principal.tenantId, 'webhook_endpoints', id, secret);
        const [row] = await tx.query<EndpointRow>(sql`
          INSERT INTO webhook_endpoints (tenant_id, id, url, description, event_types, secret_sealed, secret_fingerprint, created_by)
          VALUES (${principal.tenantId}, ${id}, ${input.url}, ${input.description ?? ''}, ${sql.param(input.eventTypes)}::text[],
            ${sealed.sealed}, ${sealed.fingerprint}, ${principal.userId})
          RETURNING ${columns}`);
        await audit(tx, principal, 'webhook.endpoint.created', id, { url: auditableUrl(input.url), eventTypes: input.eventTypes, fingerprint: sealed.fingerprint });
        return { ...view(row!), secret };
      });
    },

    async update(principal: Principal, idInput: string, input: { url?: string | undefined; description?: string | undefined; eventTypes?: string[] | undefined; enabled?: boolean | undefined }) {
      const id = idInput.toLowerCase();
      if (input.eventTypes) assertSubscribable(platform, principal, input.eventTypes);
      // Refuse a missing (or another tenant's) id before the guard can be used to probe addresses.
      await this.get(principal, id);
      if (input.url !== undefined) await platform.egress.check(input.url);
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [current] = await tx.query<{ status: string }>(sql`SELECT status FROM webhook_endpoints WHERE id = ${id} FOR UPDATE`);
        if (!current) throw notFound('webhook endpoint');
        const status = input.enabled === undefined ? null : input.enabled ? 'enabled' : 'disabled';
        const [row] = await tx.query<EndpointRow>(sql`
          UPDATE webhook_endpoints SET
            url = coalesce(${input.url ?? null}, url),
            description = coalesce(${input.description ?? null}, description),
            event_types = coalesce(${input.eventTypes === undefined ? null : sql.param(input.eventTypes)}::text[], event_types),
            status = coalesce(${status}, status),
            ${status === 'enabled' ? sql`disabled_reason = NULL, consecutive_failures = 0,` : status === 'disabled' ? sql`disabled_reason = 'disabled by a member',` : sql``}
            updated_at = now()
          WHERE id = ${id}
          RETURNING ${columns}`);
        await audit(tx, principal, 'webhook.endpoint.updated', id, {
          fields: Object.keys(input).sort(),
          ...(input.url !== undefined ? { url: auditableUrl(input.url) } : {}),
          ...(input.eventTypes ? { eventTypes: input.eventTypes } : {}),
          ...(status && status !== current.status ? { status } : {}),
        });
        return view(row!);
      });
    },

    async remove(principal: Principal, idInput: string) {
      const id = idInput.toLowerCase();
      await platform.withTenant(contextOf(principal), async (tx) => {
        const rows = await tx.query<{ url: string; secret_fingerprint: string }>(sql`DELETE FROM webhook_endpoints WHERE id = ${id} RETURNING url, secret_fingerprint`);
        if (rows.length === 0) throw notFound('webhook endpoint');
        await audit(tx, principal, 'webhook.endpoint.deleted', id, { url: auditableUrl(rows[0]!.url), fingerprint: rows[0]!.secret_fingerprint });
      });
    },

    /**
     * A new secret; the old one keeps signing beside it for `overlapSeconds`, so a
     * receiver can switch without a gap (Standard Webhooks: several space-separated
     * signatures, any one matching accepts). A rotation during an overlap drops the
     * oldest secret.
     */
    async rotateSecret(principal: Principal, idInput: string, overlapSeconds: number) {
      const id = idInput.toLowerCase();
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [current] = await tx.query<{ secret_sealed: string; secret_fingerprint: string }>(sql`
          SELECT secret_sealed, secret_fingerprint FROM webhook_endpoints WHERE id = ${id} FOR UPDATE`);
        if (!current) throw notFound('webhook endpoint');
        const secret = generateWebhookSecret();
        const sealed = await sealCurrentSecret(platform, tx, principal.tenantId, 'webhook_endpoints', id, secret);
        let previous: string | null = null;
        if (overlapSeconds > 0) {
          const [old] = await openSecrets(platform, tx, principal.tenantId, 'webhook_endpoints', id, { ...current, previous_secret_sealed: null, previous_secret_expires_at: null });
          previous = await sealPreviousSecret(platform, tx, principal.tenantId, 'webhook_endpoints', id, old!);
        }
        const [row] = await tx.query<EndpointRow>(sql`
          UPDATE webhook_endpoints SET secret_sealed = ${sealed.sealed}, secret_fingerprint = ${sealed.fingerprint},
            previous_secret_sealed = ${previous},
            previous_secret_expires_at = ${previous ? sql`now() + make_interval(secs => ${overlapSeconds}::double precision)` : sql`NULL`},
            updated_at = now()
          WHERE id = ${id} RETURNING ${columns}`);
        await audit(tx, principal, 'webhook.endpoint.secret_rotated', id, { previousFingerprint: current.secret_fingerprint, fingerprint: sealed.fingerprint, overlapSeconds });
        return { ...view(row!), secret };
      });
    },
  };
}

import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { notFound, ProblemError } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { generateReceiverSecret, isValidCidr, type Scheme } from './inbound-verify.ts';
import { openSecrets, sealCurrentSecret, sealPreviousSecret } from './secrets.ts';

interface ReceiverRow {
  id: string;
  name: string;
  scheme: Scheme;
  allowed_cidrs: string[];
  max_body_bytes: number;
  event_types: string[];
  enabled: boolean;
  secret_fingerprint: string;
  previous_secret_expires_at: Date | null;
  refused_count: string | number;
  last_refused_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const columns = sql`id, name, scheme, allowed_cidrs, max_body_bytes, event_types, enabled, secret_fingerprint, previous_secret_expires_at,
  refused_count, last_refused_at, created_at, updated_at`;
const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

function assertCidrs(cidrs: readonly string[] | undefined) {
  const bad = (cidrs ?? []).filter((c) => !isValidCidr(c));
  if (bad.length > 0) throw new ProblemError('validation-failed', 400, `not address ranges: ${bad.join(', ')}`);
}

interface InboundEventRow {
  id: string;
  receiver_id: string;
  webhook_id: string;
  event_type: string;
  payload: unknown;
  status: 'received' | 'dispatched';
  received_at: Date;
  cursor_ts: string;
}

/**
 * Inbound receivers of a tenant: management (every change and rotation
 * audited) and the list of events they accepted. The hook path itself is
 * hook-service.ts.
 */
export function createReceiversService(platform: Platform) {
  const hookUrl = (id: string) => new URL(`/hooks/${id}`, platform.config.publicUrl ?? 'http://localhost').toString();
  const view = (r: ReceiverRow) => ({
    id: r.id,
    name: r.name,
    scheme: r.scheme,
    url: hookUrl(r.id),
    allowedCidrs: r.allowed_cidrs,
    maxBodyBytes: r.max_body_bytes,
    eventTypes: r.event_types,
    enabled: r.enabled,
    secretFingerprint: r.secret_fingerprint,
    previousSecretExpiresAt: r.previous_secret_expires_at && new Date(r.previous_secret_expires_at) > new Date() ? iso(r.previous_secret_expires_at) : null,
    refusedCount: Number(r.refused_count),
    lastRefusedAt: iso(r.last_refused_at),
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  });
  const audit = (tx: Session, principal: Principal, action: string, id: string, metadata: Record<string, unknown>) =>
    recordAuditEvent(tx, { tenantId: principal.tenantId, actor: auditActorOf(principal), action, target: { type: 'webhook_receiver', id }, outcome: 'success', metadata });

  return {
    async list(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 50;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<ReceiverRow & { cursor_ts: string }>(contextOf(principal), sql`
        SELECT ${columns}, created_at::text AS cursor_ts FROM webhook_receivers
        ${after ? sql`WHERE (created_at, id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY created_at, id LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(view), nextCursor };
    },

    async get(principal: Principal, id: string) {
      const [row] = await platform.queryAsTenant<ReceiverRow>(contextOf(principal), sql`SELECT ${columns} FROM webhook_receivers WHERE id = ${id}`);
      if (!row) throw notFound('webhook receiver');
      return view(row);
    },

    async create(principal: Principal, input: { name: string; scheme?: Scheme | undefined; allowedCidrs?: string[] | undefined; maxBodyBytes?: number | undefined; eventTypes: string[] }) {
      assertCidrs(input.allowedCidrs);
      const id = randomUUID();
      const scheme = input.scheme ?? 'standard-webhooks';
      const secret = generateReceiverSecret(scheme);
      return platform.withTenant(contextOf(principal), async (tx) => {
        const sealed = await sealCurrentSecret(platform, tx, principal.tenantId, 'webhook_receivers', id, secret);
        const [row] = await tx.query<ReceiverRow>(sql`
          INSERT INTO webhook_receivers (tenant_id, id, name, scheme, secret_sealed, secret_fingerprint, allowed_cidrs, max_body_bytes, event_types, created_by)
          VALUES (${principal.tenantId}, ${id}, ${input.name}, ${scheme}, ${sealed.sealed}, ${sealed.fingerprint},
            ${sql.param(input.allowedCidrs ?? [])}::text[], ${input.maxBodyBytes ?? 65_536}, ${sql.param(input.eventTypes)}::text[], ${principal.userId})
          RETURNING ${columns}`);
        await audit(tx, principal, 'webhook.receiver.created', id, { scheme, eventTypes: input.eventTypes, allowedCidrs: input.allowedCidrs ?? [], fingerprint: sealed.fingerprint });
        return { ...view(row!), secret };
      });
    },

    async update(principal: Principal, idInput: string, input: { name?: string | undefined; allowedCidrs?: string[] | undefined; maxBodyBytes?: number | undefined; eventTypes?: string[] | undefined; enabled?: boolean | undefined }) {
      const id = idInput.toLowerCase();
      assertCidrs(input.allowedCidrs);
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [row] = await tx.query<ReceiverRow>(sql`
          UPDATE webhook_receivers SET
            name = coalesce(${input.name ?? null}, name),
            allowed_cidrs = coalesce(${input.allowedCidrs === undefined ? null : sql.param(input.allowedCidrs)}::text[], allowed_cidrs),
            max_body_bytes = coalesce(${input.maxBodyBytes ?? null}::int, max_body_bytes),
            event_types = coalesce(${input.eventTypes === undefined ? null : sql.param(input.eventTypes)}::text[], event_types),
            enabled = coalesce(${input.enabled ?? null}::boolean, enabled),
            updated_at = now()
          WHERE id = ${id} RETURNING ${columns}`);
        if (!row) throw notFound('webhook receiver');
        await audit(tx, principal, 'webhook.receiver.updated', id, {
          fields: Object.keys(input).sort(),
          ...(input.allowedCidrs ? { allowedCidrs: input.allowedCidrs } : {}),
          ...(input.eventTypes ? { eventTypes: input.eventTypes } : {}),
          ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
        });
        return view(row);
      });
    },

    async remove(principal: Principal, idInput: string) {
      const id = idInput.toLowerCase();
      await platform.withTenant(contextOf(principal), async (tx) => {
        const rows = await tx.query<{ secret_fingerprint: string }>(sql`DELETE FROM webhook_receivers WHERE id = ${id} RETURNING secret_fingerprint`);
        if (rows.length === 0) throw notFound('webhook receiver');
        await audit(tx, principal, 'webhook.receiver.deleted', id, { fingerprint: rows[0]!.secret_fingerprint });
      });
    },

    async rotateSecret(principal: Principal, idInput: string, overlapSeconds: number) {
      const id = idInput.toLowerCase();
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [current] = await tx.query<{ scheme: Scheme; secret_sealed: string; secret_fingerprint: string }>(sql`
          SELECT scheme, secret_sealed, secret_fingerprint FROM webhook_receivers WHERE id = ${id} FOR UPDATE`);
        if (!current) throw notFound('webhook receiver');
        const secret = generateReceiverSecret(current.scheme);
        const sealed = await sealCurrentSecret(platform, tx, principal.tenantId, 'webhook_receivers', id, secret);
        let previous: string | null = null;
        if (overlapSeconds > 0) {
          const [old] = await openSecrets(platform, tx, principal.tenantId, 'webhook_receivers', id, { ...current, previous_secret_sealed: null, previous_secret_expires_at: null });
          previous = await sealPreviousSecret(platform, tx, principal.tenantId, 'webhook_receivers', id, old!);
        }
        const [row] = await tx.query<ReceiverRow>(sql`
          UPDATE webhook_receivers SET secret_sealed = ${sealed.sealed}, secret_fingerprint = ${sealed.fingerprint},
            previous_secret_sealed = ${previous},
            previous_secret_expires_at = ${previous ? sql`now() + make_interval(secs => ${overlapSeconds}::double precision)` : sql`NULL`},
            updated_at = now()
          WHERE id = ${id} RETURNING ${columns}`);
        await audit(tx, principal, 'webhook.receiver.secret_rotated', id, { previousFingerprint: current.secret_fingerprint, fingerprint: sealed.fingerprint, overlapSeconds });
        return { ...view(row!), secret };
      });
    },

    async events(principal: Principal, idInput: string, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const id = idInput.toLowerCase();
      await this.get(principal, id);
      const limit = q.limit ?? 50;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<InboundEventRow>(contextOf(principal), sql`
        SELECT id, receiver_id, webhook_id, event_type, payload, status, received_at, received_at::text AS cursor_ts
        FROM webhook_inbound_events WHERE receiver_id = ${id}
        ${after ? sql`AND (received_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY received_at DESC, id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return {
        items: items.map((r) => ({ id: r.id, receiverId: r.receiver_id, webhookId: r.webhook_id, eventType: r.event_type, payload: r.payload, status: r.status, receivedAt: iso(r.received_at)! })),
        nextCursor,
      };
    },
  };
}

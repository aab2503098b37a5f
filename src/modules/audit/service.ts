import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { ProblemError, notFound } from '../../http/problem.ts';
import { auditActorOf, auditRequestOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { findEvent, listEvents, scanEvents, type EventFilter } from '../../kernel/audit/read.ts';
import { auditKernel, ProofRangeError } from '../../kernel/audit/service.ts';
import { platformLog, tenantLog, type AuditLog } from '../../kernel/audit/logs.ts';
import { cosignedNote, CosignatureRefusedError } from '../../kernel/audit/cosignatures.ts';
import type { StoredCheckpoint } from '../../kernel/audit/checkpoints.ts';
import type { Session } from '../../db/client.ts';
import { logKeyHistory } from '../../kernel/audit/log-key.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import type { Platform } from '../../kernel/platform.ts';
import { keysetCursor } from '../../kernel/pagination/keyset-cursor.ts';
import { csvHeader, csvRow, jsonLine, toApiEvent } from './format.ts';

interface Filters {
  actor?: string | undefined;
  actorType?: string | undefined;
  action?: string | undefined;
  outcome?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

const EXPORT_CHUNK = 1_000;
/** How long an export waits for the standby to replay up to the size it recorded, before reading the primary. */
const REPLICA_CATCH_UP_MS = 5_000;

type InclusionQuery = { index?: number | undefined; eventId?: string | undefined; size?: number | undefined };
type ConsistencyQuery = { from?: number | undefined; to?: number | undefined };

/** Newest first, keyset over the leaf index. Before the versioned format the cursor was `a<index>`. */
const leafCursor = keysetCursor({ leafIndex: 'index' }, {
  legacy: (text) => {
    const m = /^a(0|[1-9][0-9]{0,15})$/.exec(text);
    return m ? [Number(m[1])] : undefined;
  },
});

function filterOf(q: Filters): EventFilter {
  if (q.since && q.until && Date.parse(q.since) >= Date.parse(q.until)) {
    throw new ProblemError('validation-failed', 400, '`since` must be before `until`.');
  }
  return { actorId: q.actor, actorType: q.actorType, action: q.action, outcome: q.outcome, since: q.since, until: q.until };
}

const rangeProblem = (err: unknown) => {
  if (err instanceof ProofRangeError) return new ProblemError('validation-failed', 400, err.message);
  return err;
};

export function createAuditService(platform: Platform) {
  const kernel = auditKernel(platform);
  const b64 = (b: Buffer) => b.toString('base64');

  interface LogAccess {
    log: AuditLog;
    read<T>(fn: (tx: Session) => Promise<T>): Promise<T>;
    checkpoint(): Promise<StoredCheckpoint>;
  }
  const tenantAccess = (principal: Principal): LogAccess => ({
    log: tenantLog(principal.tenantId),
    read: (fn) => platform.withTenant(contextOf(principal), fn),
    checkpoint: () => kernel.tenantCheckpoint(principal.tenantId),
  });
  const platformAccess: LogAccess = { log: platformLog(), read: (fn) => kernel.readPlatform(fn), checkpoint: () => kernel.platformCheckpoint() };

  /** The current checkpoint with its witnesses' cosignature lines appended (signed-note: several signatures). */
  async function cosignedCheckpoint(a: LogAccess) {
    const cp = await a.checkpoint();
    return { cp, note: await a.read((tx) => cosignedNote(tx, a.log, cp.size, cp.note)) };
  }

  async function checkpointOf(a: LogAccess) {
    const { cp, note } = await cosignedCheckpoint(a);
    return { origin: cp.origin, size: cp.size, rootHash: b64(cp.root), checkpoint: note };
  }

  async function inclusionOf(a: LogAccess, q: InclusionQuery) {
    if (q.index !== undefined && q.eventId !== undefined) throw new ProblemError('validation-failed', 400, 'Pass `index` or `eventId`, not both.');
    // The event first, the checkpoint after: an event appended a moment ago is then inside it.
    let eventIndex: number | undefined;
    if (q.eventId !== undefined) {
      const event = await a.read((tx) => findEvent(tx, a.log, q.eventId!));
      if (!event) throw notFound('audit event');
      eventIndex = event.leafIndex;
    }
    const { cp, note } = await cosignedCheckpoint(a);
    const size = q.size ?? cp.size;
    if (size === 0) throw notFound('audit event');
    const answer = await a.read((tx) => kernel.inclusion(tx, a.log, eventIndex ?? q.index ?? size - 1, size)).catch((err: unknown) => {
      throw rangeProblem(err);
    });
    return {
      index: answer.index,
      size: answer.size,
      leafHash: b64(answer.leafHash),
      proof: answer.proof.map(b64),
      checkpoint: size === cp.size ? note : null,
    };
  }

  async function consistencyOf(a: LogAccess, q: ConsistencyQuery) {
    const { cp, note } = await cosignedCheckpoint(a);
    const to = q.to ?? cp.size;
    const from = q.from ?? 1;
    if (to === 0) throw notFound('audit log entry');
    const proof = await a.read((tx) => kernel.consistency(tx, a.log, from, to)).catch((err: unknown) => {
      throw rangeProblem(err);
    });
    return { from, to, proof: proof.map(b64), checkpoint: to === cp.size ? note : null };
  }

  /**
   * The standby once it holds the log up to `size` (the export promises exactly that many
   * events), else the primary: a lagging or unreachable standby never shortens an export.
   */
  async function readerUpTo(ctx: ReturnType<typeof contextOf>, log: AuditLog, size: number): Promise<Platform['withTenant']> {
    if (!platform.readDb) return platform.withTenant;
    const deadline = Date.now() + REPLICA_CATCH_UP_MS;
    try {
      for (;;) {
        if ((await platform.withTenantRead(ctx, (tx) => kernel.headSize(tx, log))) >= size) return platform.withTenantRead;
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    } catch (err) {
      platform.log.warn({ err: { message: (err as Error).message } }, 'audit export: standby unreachable, reading the primary');
    }
    return platform.withTenant;
  }

  return {
    async list(principal: Principal, q: Filters & { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 50;
      const filter = { ...filterOf(q), beforeIndex: q.cursor ? leafCursor.decode(q.cursor).leafIndex : undefined };
      const log = tenantLog(principal.tenantId);
      // A search may trail the primary by the standby's replication lag (DATABASE_READ_URL).
      const rows = await platform.withTenantRead(contextOf(principal), (tx) => listEvents(tx, log, filter, limit + 1));
      const { items, nextCursor } = leafCursor.page(rows, limit, (r) => ({ leafIndex: r.leafIndex }));
      return { items: items.map(toApiEvent), nextCursor };
    },

    /**
     * Records the export (its own event, committed before any byte leaves),
     * then streams events oldest first in chunks up to the size at the start.
     */
    async export(principal: Principal, q: Filters & { format?: 'jsonl' | 'csv' | undefined }, request: FastifyRequest) {
      const format = q.format ?? 'jsonl';
      const filter = filterOf(q);
      const log = tenantLog(principal.tenantId);
      const size = await platform.withTenant(contextOf(principal), async (tx) => {
        const n = await kernel.headSize(tx, log);
        // The filter goes to the database once before the event is recorded: one it refuses (a
        // time offset PostgreSQL does not take) is a 400 that leaves no `audit.exported` behind.
        await scanEvents(tx, log, { ...filter, fromIndex: 0 }, 1);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId,
          actor: auditActorOf(principal),
          action: 'audit.exported',
          outcome: 'success',
          metadata: { format, filters: { ...q, format: undefined }, upToSize: n },
          request: auditRequestOf(request),
        });
        return n;
      });
      const ctx = contextOf(principal);
      const read = await readerUpTo(ctx, log, size);
      async function* lines() {
        if (format === 'csv') yield csvHeader();
        let from = 0;
        while (from < size) {
          const rows = await read(ctx, (tx) => scanEvents(tx, log, { ...filter, fromIndex: from }, EXPORT_CHUNK));
          const inRange = rows.filter((r) => r.leafIndex < size);
          for (const r of inRange) yield format === 'csv' ? csvRow(r) : jsonLine(r);
          if (rows.length < EXPORT_CHUNK || inRange.length < rows.length) break;
          from = rows[rows.length - 1]!.leafIndex + 1;
        }
      }
      return {
        contentType: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        filename: `audit-${principal.tenantId}.${format === 'csv' ? 'csv' : 'jsonl'}`,
        stream: Readable.from(lines()),
      };
    },

    async checkpoint(principal: Principal) {
      return checkpointOf(tenantAccess(principal));
    },

    async inclusion(principal: Principal, q: InclusionQuery) {
      return inclusionOf(tenantAccess(principal), q);
    },

    async consistency(principal: Principal, q: ConsistencyQuery) {
      return consistencyOf(tenantAccess(principal), q);
    },

    /** The platform log, for operators (the operator token): what a tenant sees of its own log. */
    operator: {
      checkpoint: () => checkpointOf(platformAccess),
      inclusion: (q: InclusionQuery) => inclusionOf(platformAccess, q),
      consistency: (q: ConsistencyQuery) => consistencyOf(platformAccess, q),
      async events(q: Filters & { limit?: number | undefined; cursor?: string | undefined }) {
        const limit = q.limit ?? 50;
        const filter = { ...filterOf(q), beforeIndex: q.cursor ? leafCursor.decode(q.cursor).leafIndex : undefined };
        const rows = await kernel.readPlatform((tx) => listEvents(tx, platformLog(), filter, limit + 1));
        const { items, nextCursor } = leafCursor.page(rows, limit, (r) => ({ leafIndex: r.leafIndex }));
        return { items: items.map(toApiEvent), nextCursor };
      },
      /** Cosignatures of a witness the platform cannot push to, brought by an operator. */
      async addCosignatures(body: { log: string; size: number; cosignatures: string }) {
        const lines = body.cosignatures.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.length > 0);
        try {
          const stored = await kernel.acceptCosignatures({ log: body.log.toLowerCase(), size: body.size, lines, actor: { type: 'operator', id: 'operator-token' } });
          return { stored: stored.map((c) => ({ witness: c.name, keyId: c.keyId, timestamp: c.timestamp })) };
        } catch (err) {
          if (err instanceof CosignatureRefusedError) {
            if (err.code === 'ERR_AUDIT_INVALID' && /no checkpoint/.test(err.message)) throw notFound('checkpoint');
            throw new ProblemError('validation-failed', 422, err.message);
          }
          throw err;
        }
      },
    },

    /** Public (null): the platform log's recorded sizes only, tenant ids are not published; a tenant's: its own log's. */
    async keyHistory(principal: Principal | null) {
      const log = principal ? principal.tenantId.toLowerCase() : 'platform';
      return { keys: await platform.withIdentity((tx) => logKeyHistory(tx, [log])) };
    },

    async key() {
      const s = await kernel.signer();
      return { keyName: s.keyName, keyId: s.keyId, verifierKey: s.verifierKey, originTemplate: s.originOf('{tenantId}') };
    },
  };
}

/** The public shapes of an audit event: API item, JSON Lines export line, CSV row. */
import type { StoredAuditEvent } from '../../kernel/audit/read.ts';
import type { AuditEventRecord } from '../../kernel/audit/leaf.ts';

export function toApiEvent(e: StoredAuditEvent) {
  return {
    id: e.id,
    leafIndex: e.leafIndex,
    leafHash: e.leafHash.toString('base64'),
    occurredAt: e.occurredAt,
    actor: { type: e.actorType, id: e.actorId },
    action: e.action,
    target: e.targetType === null ? null : { type: e.targetType, id: e.targetId },
    outcome: e.outcome,
    reason: e.reason,
    metadata: e.metadata,
    request: { ip: e.ip, userAgent: e.userAgent, requestId: e.requestId },
  };
}
export type ApiAuditEvent = ReturnType<typeof toApiEvent>;

/** One JSON Lines line: the API item plus its log, enough to recompute its leaf (`ocsuite verify log --events`). */
export function jsonLine(e: StoredAuditEvent): string {
  return `${JSON.stringify({ log: e.tenantId ?? 'platform', ...toApiEvent(e) })}\n`;
}

/** Parses an exported line back into the record its leaf hash was computed from. */
export function recordFromJsonLine(line: string): AuditEventRecord & { leafIndex: number; leafHash: Buffer } {
  const v = JSON.parse(line) as ApiAuditEvent & { log: string };
  return {
    leafIndex: v.leafIndex,
    leafHash: Buffer.from(v.leafHash, 'base64'),
    id: v.id,
    tenantId: v.log === 'platform' ? null : v.log,
    occurredAt: v.occurredAt,
    actorType: v.actor.type,
    actorId: v.actor.id,
    action: v.action,
    targetType: v.target?.type ?? null,
    targetId: v.target?.id ?? null,
    outcome: v.outcome,
    reason: v.reason,
    metadata: v.metadata,
    ip: v.request.ip,
    userAgent: v.request.userAgent,
    requestId: v.request.requestId,
  };
}

export const CSV_COLUMNS = [
  'leaf_index', 'id', 'occurred_at', 'actor_type', 'actor_id', 'action', 'target_type', 'target_id',
  'outcome', 'reason', 'ip', 'user_agent', 'request_id', 'metadata', 'leaf_hash',
] as const;

/**
 * RFC 4180 quoting; a cell a spreadsheet would run as a formula (= + - @ tab CR
 * first) is prefixed with a quote (OWASP "CSV injection").
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let s = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

export function csvRow(e: StoredAuditEvent): string {
  const cells = [
    e.leafIndex, e.id, e.occurredAt, e.actorType, e.actorId, e.action, e.targetType, e.targetId,
    e.outcome, e.reason, e.ip, e.userAgent, e.requestId, JSON.stringify(e.metadata), e.leafHash.toString('base64'),
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

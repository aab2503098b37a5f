/**
 * The leaf of an audit event: a canonical serialisation of its stored row, so
 * anyone holding the row can recompute the leaf hash (RFC 6962 §2.1) and a row
 * changed in the database no longer matches its leaf. The log identity is part
 * of the leaf: an event copied into another tenant's log does not verify there.
 */
import { leafHash } from '../translog/index.ts';

export interface AuditEventRecord {
  id: string;
  /** null = platform log. */
  tenantId: string | null;
  /** ISO 8601 UTC with milliseconds. */
  occurredAt: string;
  actorType: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  outcome: string;
  reason: string | null;
  metadata: Record<string, unknown>;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export const LEAF_FORMAT = 'ocsuite.audit.v1';

/**
 * RFC 8785-style canonical JSON: object keys sorted by UTF-16 code units, no
 * whitespace, ECMAScript number and string serialisation.
 */
/** Strings JSON writes as they are, between quotes (no escape, no lone surrogate): the common case, without JSON.stringify's call. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const quote = (s: string) => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return value === undefined ? 'null' : JSON.stringify(value);
  }
  // Loops and concatenation rather than map/filter/join: every audit leaf and ledger digest goes through here.
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${quote(k)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
}

export function leafBytes(r: AuditEventRecord): Buffer {
  return Buffer.from(
    canonicalJson({
      format: LEAF_FORMAT,
      log: r.tenantId ?? 'platform',
      id: r.id,
      time: r.occurredAt,
      actor: { type: r.actorType, id: r.actorId },
      action: r.action,
      target: r.targetType === null ? null : { type: r.targetType, id: r.targetId },
      outcome: r.outcome,
      reason: r.reason,
      metadata: r.metadata,
      request: { ip: r.ip, userAgent: r.userAgent, requestId: r.requestId },
    }),
    'utf8',
  );
}

export function auditLeafHash(r: AuditEventRecord): Buffer {
  return leafHash(leafBytes(r));
}

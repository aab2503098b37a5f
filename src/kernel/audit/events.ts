/**
 * The audit API every module calls. An event is written in the SAME transaction
 * as the change it describes (a rolled-back action leaves no event) and becomes
 * the next leaf of its log: the tenant's own log, or the platform log when
 * `tenantId` is null. See docs/security/audit.md.
 */
import { randomUUID } from 'node:crypto';
import type { Session } from '../../db/client.ts';
import type { TenantContext } from '../../db/transaction.ts';
import type { Principal } from '../auth/principal.ts';
import { appendAuditRecords } from './append.ts';
import { AuditError } from './errors.ts';
import type { AuditEventRecord } from './leaf.ts';
import { sealPersonal, storePersonal, type PersonalFields, type SealedPersonal } from './personal.ts';
import { redactMetadata, redactText } from './redact.ts';
import { auditRequestOf, currentAuditRequest } from './request-context.ts';
import { isUuid } from '../ids.ts';

export type AuditActorType = 'user' | 'api_key' | 'operator' | 'system';
export type AuditOutcome = 'success' | 'failure';

import type { AuditRequestInfo } from './request-context.ts';
export type { AuditRequestInfo };

export interface AuditEventInput {
  /** null = the platform log (operator and system actions, failures before a tenant is known). */
  tenantId: string | null;
  actor: { type: AuditActorType; id?: string | undefined };
  /** `<area>.<verb>`: 'auth.login', 'member.role_changed', 'connector.secret_used', 'keys.rotated'. */
  action: string;
  target?: { type: string; id?: string | undefined } | undefined;
  outcome: AuditOutcome;
  reason?: string | undefined;
  /** Context without secrets: secret-named keys are dropped and token-shaped values replaced. */
  metadata?: Record<string, unknown> | undefined;
  /**
   * Fields that name a person (an invited address, an API key's name): kept out of the hashed leaf,
   * which commits to them as `metadata.personal` (salted SHA-256); the cleartext is stored beside
   * the log and data-subject erasure deletes it (kernel/audit/personal.ts, docs/privacy.md).
   */
  personal?: PersonalFields | undefined;
  request?: AuditRequestInfo | undefined;
}

const ACTION = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3}$/;
const ACTOR_TYPES: readonly string[] = ['user', 'api_key', 'operator', 'system'];

const short = (value: string | undefined, max: number) => (value === undefined || value === '' ? null : (redactText(value, max) ?? null));

/** Validates and normalises an input into the row that is stored and hashed. */
export function toAuditRecord(event: AuditEventInput, now = new Date()): AuditEventRecord {
  if (event.tenantId !== null && !isUuid(event.tenantId)) throw new AuditError('ERR_AUDIT_INVALID', 'tenantId must be a UUID or null');
  if (!ACTOR_TYPES.includes(event.actor?.type)) throw new AuditError('ERR_AUDIT_INVALID', 'actor.type is not one of user, api_key, operator, system');
  if (typeof event.action !== 'string' || event.action.length > 100 || !ACTION.test(event.action)) {
    throw new AuditError('ERR_AUDIT_INVALID', `action "${String(event.action)}" must look like "area.verb"`);
  }
  if (event.outcome !== 'success' && event.outcome !== 'failure') throw new AuditError('ERR_AUDIT_INVALID', 'outcome must be success or failure');
  if (event.target && (typeof event.target.type !== 'string' || event.target.type.length === 0)) {
    throw new AuditError('ERR_AUDIT_INVALID', 'target.type must be a non-empty string');
  }
  return {
    id: randomUUID(),
    tenantId: event.tenantId?.toLowerCase() ?? null,
    // Millisecond precision: what timestamptz stores and gives back exactly.
    occurredAt: new Date(Math.floor(now.getTime())).toISOString(),
    actorType: event.actor.type,
    actorId: short(event.actor.id, 200),
    action: event.action,
    targetType: event.target ? short(event.target.type, 100) : null,
    targetId: event.target ? short(event.target.id, 200) : null,
    outcome: event.outcome,
    reason: short(event.reason, 500),
    metadata: redactMetadata(event.metadata),
    ip: short(event.request?.ip, 100),
    userAgent: short(event.request?.userAgent, 500),
    requestId: short(event.request?.requestId, 200),
  };
}

/**
 * Records one event inside the caller's transaction. The append locks the log's
 * head row until the transaction ends, so call it last, after the change.
 * Works as the runtime role (tenant events of the transaction's tenant), the
 * identity role, and the maintenance role; the runtime role cannot write the
 * platform log.
 */
export async function recordAuditEvent(tx: Session, event: AuditEventInput): Promise<void> {
  await recordAuditEvents(tx, [event]);
}

/** Several events in one append per log (one lock, one write per log). */
export async function recordAuditEvents(tx: Session, events: readonly AuditEventInput[]): Promise<AuditEventRecord[]> {
  const now = new Date();
  // Inside an HTTP request the request's IP, user agent and id are filled in when the caller gave none.
  const ambient = currentAuditRequest();
  const sealed: (SealedPersonal | undefined)[] = events.map((e) => (e.personal ? sealPersonal(e.personal) : undefined));
  const records = events.map((e, i) => {
    const record = toAuditRecord(e.request || !ambient ? e : { ...e, request: ambient }, now);
    if (sealed[i]) record.metadata = { ...record.metadata, personal: sealed[i]!.commitment };
    return record;
  });
  const byLog = new Map<string | null, AuditEventRecord[]>();
  for (const r of records) {
    const list = byLog.get(r.tenantId);
    if (list) list.push(r);
    else byLog.set(r.tenantId, [r]);
  }
  // A fixed lock order (platform log last) so two transactions never wait on each other crosswise.
  const order = [...byLog.keys()].sort((a, b) => (a === null ? 1 : b === null ? -1 : a.localeCompare(b)));
  for (const log of order) await appendAuditRecords(tx, byLog.get(log)!);
  const personal = records.flatMap((r, i) => (sealed[i] ? [{ tenantId: r.tenantId, eventId: r.id, sealed: sealed[i]! }] : []));
  if (personal.length > 0) await storePersonal(tx, personal);
  return records;
}

/** What a route knows about the request, for `event.request` (filled in automatically inside a request). */
export { auditRequestOf };

/** The actor of an authenticated principal: the user, or the API key acting for the tenant. */
export function auditActorOf(principal: Principal): AuditEventInput['actor'] {
  if (principal.kind === 'api_key') return { type: 'api_key', id: principal.keyId ?? undefined };
  return { type: 'user', id: principal.userId ?? undefined };
}

/** The transactions a standalone event can use (a Platform satisfies this). */
export interface AuditTransactions {
  withTenant<T>(ctx: TenantContext, fn: (tx: Session) => Promise<T>): Promise<T>;
  withIdentity<T>(fn: (tx: Session) => Promise<T>, ctx?: TenantContext): Promise<T>;
}

/**
 * Records an event in its own short transaction, for facts that have no
 * transaction of their own to join: permission denials, failed logins. Tenant
 * events run as the runtime role scoped to that tenant; platform events as the
 * identity role. Throws if the write fails; callers on a refusal path log and go on.
 */
export async function recordAuditEventNow(db: AuditTransactions, event: AuditEventInput): Promise<void> {
  if (event.tenantId === null) {
    await db.withIdentity((tx) => recordAuditEvent(tx, event));
  } else {
    await db.withTenant({ tenantId: event.tenantId }, (tx) => recordAuditEvent(tx, event));
  }
}

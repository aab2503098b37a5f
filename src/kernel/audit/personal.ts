/**
 * Personal data of audit events, kept beside the log instead of inside it (docs/privacy.md).
 *
 * An event that names a person passes those fields as `personal` instead of in `metadata`. The
 * leaf then commits to them — `metadata.personal` = hex SHA-256(salt || canonical JSON of the
 * fields) with a random 16-byte salt — and the salt and cleartext go to `audit_personal` in the
 * same transaction. Erasing a data subject deletes those rows: the leaf is unchanged (the log and
 * its signed checkpoints still verify), the cleartext is gone, and without the salt the commitment
 * cannot be tested against a guessed address. Whoever still holds a row can prove its fields are
 * what the log recorded (`personalCommitment`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { canonicalJson } from './leaf.ts';
import { redactMetadata } from './redact.ts';

export interface PersonalFields {
  /** The cleartext (secret rules apply as to metadata): `{ email }`, `{ name }`. */
  fields: Record<string, unknown>;
  /** Whom they are about, to find them on erasure. */
  userId?: string | null | undefined;
  email?: string | null | undefined;
}

export interface SealedPersonal {
  salt: Buffer;
  fields: Record<string, unknown>;
  userId: string | null;
  email: string | null;
  commitment: string;
}

export function personalCommitment(salt: Buffer, fields: Record<string, unknown>): string {
  return createHash('sha256').update(salt).update(canonicalJson(fields), 'utf8').digest('hex');
}

export function sealPersonal(p: PersonalFields): SealedPersonal {
  const salt = randomBytes(16);
  const fields = redactMetadata(p.fields);
  return { salt, fields, userId: p.userId ?? null, email: p.email?.toLowerCase() ?? null, commitment: personalCommitment(salt, fields) };
}

/** Stores the cleartext of tenant events (platform events keep only the commitment: nothing to erase). */
export async function storePersonal(tx: Session, rows: readonly { tenantId: string | null; eventId: string; sealed: SealedPersonal }[]): Promise<void> {
  const tenantRows = rows.filter((r) => r.tenantId !== null);
  if (tenantRows.length === 0) return;
  await tx.query(sql`
    INSERT INTO audit_personal (tenant_id, event_id, subject_user_id, subject_email, salt, fields)
    SELECT p.tenant_id, p.event_id, p.user_id, p.email, decode(p.salt, 'hex'), p.fields
    FROM unnest(${sql.param(tenantRows.map((r) => r.tenantId))}::uuid[], ${sql.param(tenantRows.map((r) => r.eventId))}::uuid[],
                ${sql.param(tenantRows.map((r) => r.sealed.userId))}::uuid[], ${sql.param(tenantRows.map((r) => r.sealed.email))}::text[],
                ${sql.param(tenantRows.map((r) => r.sealed.salt.toString('hex')))}::text[],
                ${sql.param(tenantRows.map((r) => JSON.stringify(r.sealed.fields)))}::jsonb[]) AS p(tenant_id, event_id, user_id, email, salt, fields)`);
}

/** What the audit trail holds about one person beside the log (data-subject access). */
export async function personalOf(tx: Session, tenantId: string, userId: string, email: string | null) {
  return tx.query<{ event_id: string; fields: Record<string, unknown>; created_at: Date }>(sql`
    SELECT event_id, fields, created_at FROM audit_personal
    WHERE tenant_id = ${tenantId} AND (subject_user_id = ${userId} OR (${email}::text IS NOT NULL AND lower(subject_email) = lower(${email}::text)))
    ORDER BY created_at, event_id`);
}

/** Data-subject erasure: the cleartext and salts go; the events and their leaves stay. */
export async function erasePersonal(tx: Session, tenantId: string, userId: string, email: string | null): Promise<number> {
  const rows = await tx.query(sql`
    DELETE FROM audit_personal
    WHERE tenant_id = ${tenantId} AND (subject_user_id = ${userId} OR (${email}::text IS NOT NULL AND lower(subject_email) = lower(${email}::text)))
    RETURNING event_id`);
  return rows.length;
}

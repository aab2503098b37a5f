import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { ProblemError, notFound } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { enqueueMail, MAIL_QUEUE } from '../../kernel/mail/delivery.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform, SubjectRef } from '../../kernel/platform.ts';
import { addressHash, normaliseAddress, signToken, tenantKey } from './keys.ts';
import { readSettings } from './settings.ts';
import { isSuppressed, suppressHash } from './suppressions.ts';

export interface ContactRow {
  id: string;
  email: string;
  address_hash: string;
  name: string | null;
  source: string;
  lawful_basis: string;
  consent_text: string | null;
  consent_at: Date | null;
  status: 'pending' | 'subscribed' | 'unsubscribed';
  suppressed: boolean;
  confirmation_sent_at: Date | null;
  confirmed_at: Date | null;
  unsubscribed_at: Date | null;
  created_at: Date;
  updated_at: Date;
  cursor_ts: string;
}

export const contactColumns = sql`c.id, c.email, c.address_hash, c.name, c.source, c.lawful_basis, c.consent_text, c.consent_at, c.status,
  EXISTS (SELECT 1 FROM outreach_suppressions s WHERE s.address_hash = c.address_hash) AS suppressed,
  c.confirmation_sent_at, c.confirmed_at, c.unsubscribed_at, c.created_at, c.updated_at, c.created_at::text AS cursor_ts`;

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export const contactView = (r: ContactRow) => ({
  id: r.id,
  email: r.email,
  name: r.name,
  source: r.source,
  lawfulBasis: r.lawful_basis,
  consentText: r.consent_text,
  consentAt: iso(r.consent_at),
  status: r.status,
  suppressed: r.suppressed,
  confirmationSentAt: iso(r.confirmation_sent_at),
  confirmedAt: iso(r.confirmed_at),
  unsubscribedAt: iso(r.unsubscribed_at),
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

/** Confirmation links stay valid this long (the contact stays pending, and unmailed, until then). */
export const CONFIRMATION_TTL_SECONDS = 7 * 86_400;

interface CreateInput {
  email: string;
  name?: string | undefined;
  source: string;
  lawfulBasis: 'consent' | 'contract' | 'legitimate_interest';
  consentText?: string | undefined;
  consentAt?: string | undefined;
}

/**
 * Erases one contact in the caller's transaction and keeps what stops it being
 * mailed again: a suppression entry with the keyed hash of the address and no
 * address. Sends keep their rows (the record of what was sent) without the contact.
 */
export async function eraseContactRow(tx: Session, tenantId: string, contact: { id: string; address_hash: string }): Promise<void> {
  await suppressHash(tx, { tenantId, hash: contact.address_hash, address: null, reason: 'erased', source: 'erasure' });
  await tx.query(sql`UPDATE outreach_suppressions SET address = NULL, note = NULL, updated_at = now() WHERE address_hash = ${contact.address_hash}`);
  await tx.query(sql`DELETE FROM outreach_contacts WHERE id = ${contact.id}`);
}

export function createContactsService(platform: Platform) {
  const confirmUrl = (token: string) => `${platform.config.publicUrl}/c/${token}`;

  return {
    async list(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined; status?: string | undefined }) {
      const limit = q.limit ?? 20;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<ContactRow>(contextOf(principal), sql`
        SELECT ${contactColumns} FROM outreach_contacts c
        WHERE true
        ${after ? sql`AND (c.created_at, c.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ${q.status ? sql`AND c.status = ${q.status}` : sql``}
        ORDER BY c.created_at DESC, c.id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(contactView), nextCursor };
    },

    async get(principal: Principal, id: string) {
      const [row] = await platform.queryAsTenant<ContactRow>(contextOf(principal), sql`SELECT ${contactColumns} FROM outreach_contacts c WHERE c.id = ${id}`);
      if (!row) throw notFound('contact');
      return contactView(row);
    },

    /**
     * A contact with its consent record. Under double opt-in a contact whose basis
     * is consent starts `pending` and gets a confirmation mail; nothing is sent to
     * it before the person confirms. A suppressed address is refused (409): a
     * tenant cannot re-add someone who unsubscribed.
     */
    async create(principal: Principal, input: CreateInput) {
      if (input.lawfulBasis === 'consent' && !input.consentText) {
        throw new ProblemError('validation-failed', 400, 'Consent as the lawful basis needs consentText: the wording the person agreed to.');
      }
      if (input.consentAt && Date.parse(input.consentAt) > Date.now() + 60_000) {
        throw new ProblemError('validation-failed', 400, 'consentAt lies in the future.');
      }
      const email = normaliseAddress(input.email);
      // A full mail queue refuses before anything is written; checked outside the transaction
      // (on the embedded profile the queue shares the one database connection).
      const doubleOptIn = await platform.withTenant(contextOf(principal), async (tx) => (await readSettings(tx)).double_opt_in);
      if (doubleOptIn && input.lawfulBasis === 'consent') await platform.jobs.assertRoom(MAIL_QUEUE.name);
      const result = await platform.withTenant(contextOf(principal), async (tx) => {
        const settings = await readSettings(tx);
        const confirm = settings.double_opt_in && input.lawfulBasis === 'consent';
        const key = await tenantKey(tx, platform.keyring, principal.tenantId);
        const hash = addressHash(key, email);
        const suppressed = await isSuppressed(tx, hash);
        if (suppressed) {
          throw new ProblemError('conflict', 409, `The address is on the suppression list (${suppressed}); it cannot be added as a contact.`, { extensions: { reason: 'suppressed', suppression: suppressed } });
        }
        const [row] = await tx.query<ContactRow>(sql`
          WITH c AS (
            INSERT INTO outreach_contacts (tenant_id, email, address_hash, name, source, lawful_basis, consent_text, consent_at, status, confirmation_sent_at, created_by)
            VALUES (${principal.tenantId}, ${email}, ${hash}, ${input.name ?? null}, ${input.source}, ${input.lawfulBasis},
                    ${input.consentText ?? null}, ${input.lawfulBasis === 'consent' ? (input.consentAt ?? new Date().toISOString()) : (input.consentAt ?? null)}::timestamptz,
                    ${confirm ? 'pending' : 'subscribed'}, ${confirm ? sql`now()` : sql`NULL`}, ${principal.userId})
            RETURNING *)
          SELECT ${contactColumns} FROM c`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'outreach.contact_created',
          target: { type: 'outreach_contact', id: row!.id }, outcome: 'success',
          metadata: { lawfulBasis: input.lawfulBasis, source: input.source, doubleOptIn: confirm },
        });
        const token = confirm ? signToken(key, 'confirm', principal.tenantId, row!.id) : null;
        // The confirmation mail is an outbox row of this transaction: contact and mail commit together.
        if (token) {
          await enqueueMail(platform.jobs, platform.keyring, {
            to: email,
            subject: 'Please confirm your subscription',
            text: `Someone (hopefully you) asked to receive mail at this address.\n\nConfirm: ${confirmUrl(token)}\n\n`
              + 'If this was not you, ignore this message: nothing will be sent to you.\n',
          }, tx);
        }
        return { row: row! };
      });
      return contactView(result.row);
    },

    async update(principal: Principal, id: string, input: { name?: string | null | undefined }) {
      const [row] = await platform.queryAsTenant<ContactRow>(contextOf(principal), sql`
        WITH c AS (
          UPDATE outreach_contacts SET name = ${input.name === undefined ? sql`name` : sql`${input.name}`}, updated_at = now()
          WHERE id = ${id} RETURNING *)
        SELECT ${contactColumns} FROM c`);
      if (!row) throw notFound('contact');
      return contactView(row);
    },

    /** Erasure (GDPR Art. 17): the contact goes, a hashed suppression stays. */
    async erase(principal: Principal, id: string) {
      await platform.withTenant(contextOf(principal), async (tx) => {
        const [row] = await tx.query<{ id: string; address_hash: string }>(sql`SELECT id, address_hash FROM outreach_contacts WHERE id = ${id} FOR UPDATE`);
        if (!row) throw notFound('contact');
        await eraseContactRow(tx, principal.tenantId, row);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'outreach.contact_erased',
          target: { type: 'outreach_contact', id }, outcome: 'success',
        });
      });
    },
  };
}

/** Data-subject export: the contact record, its suppression and what was sent to it. */
export async function exportContactSubject(tx: Session, subject: SubjectRef): Promise<Record<string, unknown>> {
  if (!subject.email) return {};
  const email = normaliseAddress(subject.email);
  const contacts = await tx.query<ContactRow>(sql`SELECT ${contactColumns} FROM outreach_contacts c WHERE c.tenant_id = ${subject.tenantId} AND c.email = ${email}`);
  const hashes = contacts.map((c) => c.address_hash);
  const suppressions = await tx.query(sql`
    SELECT reason, source, created_at FROM outreach_suppressions WHERE tenant_id = ${subject.tenantId} AND (address = ${email} OR address_hash = ANY (${sql.param(hashes)}::text[]))`);
  return { contacts: contacts.map(contactView), suppressions };
}

/** Data-subject erasure: every contact with the subject's address, each leaving a hashed suppression. */
export async function eraseContactSubject(tx: Session, subject: SubjectRef): Promise<Record<string, number>> {
  if (!subject.email) return { outreach_contacts: 0 };
  const email = normaliseAddress(subject.email);
  const rows = await tx.query<{ id: string; address_hash: string }>(sql`
    SELECT id, address_hash FROM outreach_contacts WHERE tenant_id = ${subject.tenantId} AND email = ${email} FOR UPDATE`);
  for (const row of rows) await eraseContactRow(tx, subject.tenantId, row);
  // A suppression made from the address alone (no contact) loses the address, keeps the hash.
  const cleared = await tx.query(sql`UPDATE outreach_suppressions SET address = NULL, note = NULL, updated_at = now() WHERE tenant_id = ${subject.tenantId} AND address = ${email} RETURNING id`);
  return { outreach_contacts: rows.length, outreach_suppressions: cleared.length };
}

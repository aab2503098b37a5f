import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { recordAuditEvent } from '../../kernel/audit/events.ts';
import { isCryptoError } from '../../kernel/crypto/index.ts';
import type { Platform } from '../../kernel/platform.ts';
import { CONFIRMATION_TTL_SECONDS } from './contacts.ts';
import { existingTenantKey, parseToken, type TokenPurpose } from './keys.ts';
import { suppressHash } from './suppressions.ts';

/** What a link's token resolves to after its MAC checked out under the tenant's key. */
export interface LinkTarget {
  tenantId: string;
  contactId: string;
  /** null once the contact was erased (an unsubscribe link still answers "unsubscribed"). */
  contact: { email: string; address_hash: string; status: string; confirmation_sent_at: Date | null; suppressed: boolean } | null;
  sender: string | null;
}

export type LinkOutcome =
  | { status: 'invalid' }
  | { status: 'refused'; detail: string }
  | { status: 'ok'; target: LinkTarget };

const recipient = { type: 'system' as const, id: 'outreach:recipient' };

/**
 * The public flows behind /u/{token} (unsubscribe) and /c/{token} (double
 * opt-in confirmation). The token names its tenant; the transaction runs in
 * that tenant only, and nothing is read or written before the MAC verifies
 * under the tenant's own key. `act` false (GET) never writes.
 */
export function createLinkService(platform: Platform) {
  async function resolve(tx: Session, purpose: TokenPurpose, token: string): Promise<LinkTarget | undefined> {
    const parsed = parseToken(token, purpose);
    if (!parsed) return undefined;
    let key;
    try {
      key = await existingTenantKey(tx, platform.keyring, parsed.tenantId);
    } catch (err) {
      if (isCryptoError(err)) return undefined; // shredded tenant: its links died with its keys
      throw err;
    }
    if (!key || !parsed.verify(key)) return undefined;
    const [contact] = await tx.query<NonNullable<LinkTarget['contact']>>(sql`
      SELECT c.email, c.address_hash, c.status, c.confirmation_sent_at,
             EXISTS (SELECT 1 FROM outreach_suppressions s WHERE s.address_hash = c.address_hash) AS suppressed
      FROM outreach_contacts c WHERE c.id = ${parsed.contactId}`);
    const [tenant] = await tx.query<{ name: string }>(sql`SELECT name FROM tenants WHERE id = ${parsed.tenantId} AND deleted_at IS NULL`);
    if (!tenant) return undefined;
    return { tenantId: parsed.tenantId, contactId: parsed.contactId, contact: contact ?? null, sender: tenant.name };
  }

  const tenantOf = (purpose: TokenPurpose, token: string) => parseToken(token, purpose)?.tenantId;

  return {
    /** GET: what the page shows; changes nothing. */
    async inspect(purpose: TokenPurpose, token: string): Promise<LinkOutcome> {
      const tenantId = tenantOf(purpose, token);
      if (!tenantId) return { status: 'invalid' };
      const target = await platform.withTenant({ tenantId }, (tx) => resolve(tx, purpose, token));
      return target ? { status: 'ok', target } : { status: 'invalid' };
    },

    /** POST /u/{token}: suppresses the contact's address (idempotent) and records it. */
    async unsubscribe(token: string, oneClick: boolean): Promise<LinkOutcome> {
      const tenantId = tenantOf('unsubscribe', token);
      if (!tenantId) return { status: 'invalid' };
      return platform.withTenant({ tenantId }, async (tx): Promise<LinkOutcome> => {
        const target = await resolve(tx, 'unsubscribe', token);
        if (!target) return { status: 'invalid' };
        // An erased contact is already suppressed by hash (erasure): nothing left to do.
        if (target.contact) {
          const source = oneClick ? 'one_click' : 'unsubscribe_link';
          const done = await suppressHash(tx, { tenantId, hash: target.contact.address_hash, address: target.contact.email, reason: 'unsubscribed', source });
          await recordAuditEvent(tx, {
            tenantId, actor: recipient, action: 'outreach.unsubscribed', target: { type: 'outreach_contact', id: target.contactId }, outcome: 'success',
            metadata: { source, suppression: done.id, alreadySuppressed: !done.created },
          });
        }
        return { status: 'ok', target };
      });
    },

    /** POST /c/{token}: double opt-in confirmation of a pending contact. */
    async confirm(token: string): Promise<LinkOutcome> {
      const tenantId = tenantOf('confirm', token);
      if (!tenantId) return { status: 'invalid' };
      return platform.withTenant({ tenantId }, async (tx): Promise<LinkOutcome> => {
        const target = await resolve(tx, 'confirm', token);
        if (!target?.contact) return { status: 'invalid' };
        const c = target.contact;
        if (c.status === 'subscribed') return { status: 'ok', target };
        if (c.status !== 'pending') return { status: 'refused', detail: 'This address was unsubscribed; it cannot be confirmed with this link.' };
        if (c.suppressed) return { status: 'refused', detail: 'This address is on the suppression list.' };
        const sent = c.confirmation_sent_at ? new Date(c.confirmation_sent_at).getTime() : 0;
        if (Date.now() - sent > CONFIRMATION_TTL_SECONDS * 1000) return { status: 'invalid' };
        await tx.query(sql`UPDATE outreach_contacts SET status = 'subscribed', confirmed_at = now(), updated_at = now() WHERE id = ${target.contactId} AND status = 'pending'`);
        await recordAuditEvent(tx, {
          tenantId, actor: recipient, action: 'outreach.contact_confirmed', target: { type: 'outreach_contact', id: target.contactId }, outcome: 'success',
        });
        return { status: 'ok', target };
      });
    },
  };
}

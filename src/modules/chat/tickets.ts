import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { forbidden } from '../../http/problem.ts';
import type { Principal } from '../../kernel/auth/principal.ts';
import { isUuid } from '../../kernel/ids.ts';
import type { Platform } from '../../kernel/platform.ts';

/** How long a socket ticket may wait for its upgrade. */
export const TICKET_TTL_SECONDS = 30;

const digest = (secret: Buffer) => createHash('sha256').update(secret).digest();

/**
 * One-time socket tickets (issue #14 §2): 256 random bits, stored only as their
 * SHA-256, valid 30 s, redeemed once (the UPDATE that marks it used is the
 * check, so two upgrades racing with one ticket get one socket), bound to the
 * session that asked for it, so a revoked session's tickets redeem to nothing.
 * The ticket carries its tenant (16 bytes ahead of the secret) because the
 * upgrade has no other credential to find it by.
 */
export function createTickets(platform: Platform) {
  return {
    async issue(principal: Principal): Promise<{ ticket: string; expiresAt: string }> {
      if (!principal.sessionId || !principal.userId) throw forbidden('Socket tickets are issued to user sessions only.');
      const secret = randomBytes(32);
      const [row] = await platform.withTenant({ tenantId: principal.tenantId, userId: principal.userId }, async (tx) => {
        // Spent and expired tickets of the tenant go as new ones come: the table stays small.
        await tx.query(sql`DELETE FROM chat_tickets WHERE expires_at < now() - interval '1 minute'`);
        return tx.query<{ expires_at: Date }>(sql`
          INSERT INTO chat_tickets (tenant_id, digest, session_id, user_id, expires_at)
          VALUES (${principal.tenantId}, ${digest(secret)}, ${principal.sessionId}, ${principal.userId}, now() + make_interval(secs => ${TICKET_TTL_SECONDS}))
          RETURNING expires_at`);
      });
      const tenant = Buffer.from(principal.tenantId.replaceAll('-', ''), 'hex');
      return { ticket: Buffer.concat([tenant, secret]).toString('base64url'), expiresAt: row!.expires_at.toISOString() };
    },

    /** The session a ticket was issued for, once; null for anything else (unknown, expired, used, garbled). */
    async redeem(ticket: string): Promise<{ sid: string; tid: string; sub: string } | null> {
      if (!/^[A-Za-z0-9_-]{64}$/.test(ticket)) return null;
      const raw = Buffer.from(ticket, 'base64url');
      if (raw.length !== 48 || raw.toString('base64url') !== ticket) return null;
      const hex = raw.subarray(0, 16).toString('hex');
      const tenantId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
      if (!isUuid(tenantId)) return null;
      const [row] = await platform.queryAsTenant<{ session_id: string; user_id: string }>({ tenantId }, sql`
        UPDATE chat_tickets SET used_at = now()
        WHERE digest = ${digest(raw.subarray(16))} AND used_at IS NULL AND expires_at > now()
        RETURNING session_id, user_id`);
      return row ? { sid: row.session_id, tid: tenantId, sub: row.user_id } : null;
    },
  };
}

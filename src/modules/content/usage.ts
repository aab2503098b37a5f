import { sql } from 'drizzle-orm';
import { KernelError } from '../../kernel/errors.ts';
import type { Platform } from '../../kernel/platform.ts';

/** Seconds until the next UTC midnight, when the daily quota resets. */
export function secondsUntilReset(now = new Date()): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

/**
 * Token metering per tenant and UTC day. `reserve` books the worst case of a
 * call before it is made with one conditional upsert: the row lock orders
 * concurrent calls and the `WHERE` refuses the one that would cross the quota,
 * so N parallel calls can never spend more than the quota between them.
 * `settle` then books what the call really used (or refunds it all on failure).
 */
export function createUsageMeter(platform: Platform) {
  return {
    async reserve(tenantId: string, tokens: number, quota: number): Promise<void> {
      const rows = await platform.queryAsTenant<{ tokens: string }>({ tenantId }, sql`
        INSERT INTO content_usage AS u (tenant_id, day, tokens, requests)
        SELECT ${tenantId}::uuid, (now() AT TIME ZONE 'UTC')::date, ${tokens}::bigint, 1 WHERE ${tokens}::bigint <= ${quota}::bigint
        ON CONFLICT (tenant_id, day) DO UPDATE SET tokens = u.tokens + excluded.tokens, requests = u.requests + 1
          WHERE u.tokens + excluded.tokens <= ${quota}::bigint
        RETURNING u.tokens::text AS tokens`);
      if (rows.length === 0) {
        throw new KernelError('rate-limited', 'The tenant\'s daily token quota is used up.', {
          retryAfterSeconds: secondsUntilReset(),
          extensions: { quota },
        });
      }
    },

    async settle(tenantId: string, reserved: number, used: number): Promise<void> {
      const delta = used - reserved;
      if (delta === 0) return;
      await platform.queryAsTenant({ tenantId }, sql`
        UPDATE content_usage SET tokens = greatest(0, tokens + ${delta}::bigint), requests = greatest(0, requests - ${used === 0 ? 1 : 0}::int)
        WHERE day = (now() AT TIME ZONE 'UTC')::date`);
    },

    async today(tenantId: string): Promise<{ tokens: number; requests: number }> {
      const [row] = await platform.queryAsTenant<{ tokens: string; requests: number }>({ tenantId }, sql`
        SELECT tokens::text AS tokens, requests FROM content_usage WHERE day = (now() AT TIME ZONE 'UTC')::date`);
      return { tokens: Number(row?.tokens ?? 0), requests: row?.requests ?? 0 };
    },
  };
}

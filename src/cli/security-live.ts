import { sql } from 'drizzle-orm';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/client.ts';
import { withOwner } from '../db/transaction.ts';
import { countDead } from '../jobs/dead-letters.ts';
import type { Check } from './doctor.ts';

// A log that grew and has gone this long without a signed checkpoint is not being published.
const CHECKPOINT_STALE_SECONDS = 24 * 3600;
// Failed logins in a day above which the report asks for a look (a credential-stuffing wave).
const FAILED_LOGIN_WARN = 100;

/** The security report's own live checks, beside the doctor's: tamper evidence, dead letters, brute force. */
export async function securityChecks(db: Database, _config: Config): Promise<Check[]> {
  return withOwner(db, async (tx) => {
    const checks: Check[] = [];
    const [cp] = await tx.query<{ logs: number; stale: number; oldest: number | null }>(sql`
      WITH heads AS (
        SELECT h.size, h.updated_at, (SELECT max(c.size) FROM translog_checkpoints c WHERE c.tenant_id = h.tenant_id) AS signed FROM translog_heads h
        UNION ALL
        SELECT h.size, h.updated_at, (SELECT max(c.size) FROM platform_translog_checkpoints c) FROM platform_translog_heads h)
      SELECT count(*)::int AS logs,
             count(*) FILTER (WHERE size > coalesce(signed, 0) AND updated_at < now() - make_interval(secs => ${CHECKPOINT_STALE_SECONDS}))::int AS stale,
             extract(epoch FROM now() - min(updated_at) FILTER (WHERE size > coalesce(signed, 0)))::float8 AS oldest
      FROM heads`);
    checks.push({
      ok: (cp?.stale ?? 0) === 0,
      warn: cp?.oldest != null,
      name: 'checkpoint freshness',
      detail: cp?.stale
        ? `${cp.stale} log(s) grew more than ${CHECKPOINT_STALE_SECONDS / 3600} h ago without a signed checkpoint: is the checkpoint schedule running? (\`ocsuite audit checkpoint\` signs now)`
        : `${cp?.logs ?? 0} log(s); ${cp?.oldest != null ? `unsigned growth for ${Math.round(cp.oldest)} s (next scheduled checkpoint signs it)` : 'every log signed up to its head'}`,
    });
    const dead = [...(await countDead(tx)).entries()];
    const total = dead.reduce((n, [, c]) => n + c, 0);
    checks.push({ ok: true, warn: total > 0, name: 'dead letters', detail: total ? `${total} awaiting an operator (${dead.map(([q, c]) => `${q}: ${c}`).join(', ')}) — \`ocsuite jobs dead list\`` : 'none' });
    const [fl] = await tx.query<{ failures: number; locked: number }>(sql`
      SELECT coalesce(sum(failures), 0)::int AS failures, count(*) FILTER (WHERE locked_until > now())::int AS locked
      FROM auth_throttle WHERE updated_at > now() - interval '24 hours'`);
    checks.push({
      ok: true,
      warn: (fl?.failures ?? 0) >= FAILED_LOGIN_WARN,
      name: 'failed logins',
      detail: `${fl?.failures ?? 0} counted failure(s) in the last 24 h, ${fl?.locked ?? 0} key(s) locked now${(fl?.failures ?? 0) >= FAILED_LOGIN_WARN ? ' — a brute-force wave? see docs/security/incident-response.md' : ''}`,
    });
    return checks;
  });
}

import { parseArgs } from 'node:util';
import { bootPlatform, shutdownPlatform } from '../boot.ts';
import type { Config } from '../config/config.ts';
import { deadLetterCursor, type DeadLetter, type DeadLetterStatus } from '../jobs/dead-letters.ts';
import { CursorError } from '../kernel/pagination/keyset-cursor.ts';
import { discardDeadLetter, listDeadLetters, retryDeadLetter, type Actor, type OperationDeps } from '../jobs/operations.ts';
import { scheduleHealth } from '../jobs/schedule-health.ts';
import { JobSystem } from '../jobs/system.ts';
import { isUuid } from '../kernel/ids.ts';
import { modules as allModules } from '../modules/index.ts';
import type { ModuleManifest } from '../modules/manifest.ts';

/**
 * `ocsuite jobs dead list|show|retry|discard`, `ocsuite jobs schedules`,
 * `ocsuite jobs queues`: what a platform operator does with failed jobs
 * (maintenance role: every tenant's and the platform's dead letters; every
 * retry and discard is audited in the platform log).
 */
const USAGE = `usage:
  ocsuite jobs dead list [--queue Q] [--tenant UUID] [--status dead|retried|discarded] [--limit N] [--cursor C | --all] [--json]
  ocsuite jobs dead show <id>
  ocsuite jobs dead retry <id>
  ocsuite jobs dead discard <id>
  ocsuite jobs schedules [--json]
  ocsuite jobs queues [--json]`;

const STATUSES: readonly string[] = ['dead', 'retrying', 'retried', 'discarded'];

export async function jobsCommand(config: Config, args: string[], modules: readonly ModuleManifest[] = allModules): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      queue: { type: 'string' },
      tenant: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  const [area, action, id] = positionals;
  const known = (area === 'dead' && ['list', 'show', 'retry', 'discard'].includes(action ?? '')) || area === 'schedules' || area === 'queues';
  if (!known) {
    console.error(USAGE);
    return 2;
  }
  if (area === 'dead' && action !== 'list' && !isUuid(id)) {
    console.error(`ocsuite jobs dead ${action}: give the dead letter's id (a UUID)\n${USAGE}`);
    return 2;
  }
  if (values.status && !STATUSES.includes(values.status)) {
    console.error(`--status must be one of ${STATUSES.join(', ')}`);
    return 2;
  }
  if (values.tenant && !isUuid(values.tenant)) {
    console.error('--tenant must be a UUID');
    return 2;
  }
  const limit = values.limit ? Number(values.limit) : 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    console.error('--limit must be an integer between 1 and 10000');
    return 2;
  }
  if (values.cursor !== undefined) {
    try {
      deadLetterCursor.decode(values.cursor);
    } catch (err) {
      if (!(err instanceof CursorError)) throw err;
      console.error('--cursor is not one this command printed');
      return 2;
    }
    if (values.all) {
      console.error('--cursor and --all exclude each other');
      return 2;
    }
  }

  const platform = await bootPlatform({ ...config, logLevel: 'silent' }, { modules });
  try {
    const deps: OperationDeps = { db: platform.db, jobs: platform.jobs, statementTimeoutMs: platform.config.statementTimeoutMs };
    const actor: Actor = { kind: 'operator', name: `cli:${process.env.USER ?? 'unknown'}` };
    const print = (v: unknown) => console.log(JSON.stringify(v, null, 2));

    if (area === 'schedules') {
      const active = platform.jobs instanceof JobSystem ? await platform.jobs.raw.schedules() : [];
      // The platform's own schedules, then each module's (declared in its manifest; boot defines their queues).
      const rows = scheduleHealth(active, modules.flatMap((m) => (m.schedules ?? []).map((s) => ({ module: m.name, name: s.name, cron: s.cron, description: s.description }))));
      if (values.json) print(rows);
      else for (const r of rows) console.log(`${r.name.padEnd(30)} ${r.cron.padEnd(16)} ${r.handler.padEnd(12)} ${(r.status === 'missing' ? 'MISSING' : r.scheduled ? 'scheduled' : 'not scheduled').padEnd(14)} ${r.owner} — ${r.description}`);
      // A schedule with a handler that the driver does not hold (Redis restarted or flushed, before the workers re-assert it) is a failure.
      const missing = rows.filter((r) => r.status === 'missing');
      if (missing.length > 0) console.error(`ocsuite jobs schedules: missing in the driver: ${missing.map((r) => r.name).join(', ')} (workers re-assert schedules every OCSUITE_SCHEDULE_HEAL_SECONDS and on reconnect; is a worker running?)`);
      return missing.length > 0 ? 1 : 0;
    }
    if (area === 'queues') {
      const rows = await Promise.all(platform.jobs.definitions().map(async (d) => ({ name: d.name, scope: d.scope, maxDepth: d.maxDepth ?? null, ...(await platform.jobs.counts(d.name)) })));
      if (values.json) print({ driver: platform.jobs.driver, queues: rows });
      else {
        console.log(`driver: ${platform.jobs.driver}`);
        for (const r of rows) console.log(`${r.name.padEnd(30)} ${r.scope.padEnd(9)} waiting ${r.waiting} active ${r.active} completed ${r.completed} failed ${r.failed} oldest ${r.oldestWaitingSeconds.toFixed(0)} s`);
      }
      return 0;
    }

    if (action === 'list') {
      // A page of --limit (newest first); --all walks every page, so nothing is capped.
      const filter = { queue: values.queue, tenantId: values.tenant, status: values.status as DeadLetterStatus | undefined, limit };
      const items: DeadLetter[] = [];
      let cursor = values.cursor;
      for (;;) {
        const page = await listDeadLetters(deps, actor, { ...filter, cursor });
        items.push(...page.items);
        if (!values.json) for (const d of page.items) console.log(line(d));
        cursor = page.nextCursor ?? undefined;
        if (!cursor || !values.all) break;
      }
      if (values.json) print(items);
      else if (items.length === 0) console.log('no dead letters');
      // On stderr, so --json stays one parseable array.
      if (cursor) console.error(`more dead letters: add --cursor ${cursor} (or --all)`);
      return 0;
    }
    if (action === 'show') {
      const { items: [d] } = await listDeadLetters(deps, actor, { id, limit: 1 });
      if (!d) {
        console.error(`no dead letter ${id}`);
        return 1;
      }
      print(d);
      return 0;
    }
    if (action === 'retry') {
      const r = await retryDeadLetter(deps, actor, id!);
      if (r.outcome === 'not-found') {
        console.error(`no dead letter ${id} awaiting a retry (missing, already resolved, or not retryable)`);
        return 1;
      }
      if (r.outcome === 'queue-unknown') {
        console.error(`dead letter ${id}: queue ${r.queue} is not defined in this version; it stays dead (discard it, or retry after a deploy that defines the queue)`);
        return 1;
      }
      console.log(`retried ${id} as job ${r.jobId} on ${r.deadLetter.queue}`);
      return 0;
    }
    const d = await discardDeadLetter(deps, actor, id!);
    if (!d) {
      console.error(`no dead letter ${id} awaiting a decision`);
      return 1;
    }
    console.log(`discarded ${id}`);
    return 0;
  } finally {
    await shutdownPlatform(platform);
  }
}

function line(d: DeadLetter): string {
  const who = d.tenantId ? `tenant ${d.tenantId}` : d.claimedTenantId ? `gone tenant ${d.claimedTenantId}` : 'platform';
  const error = d.error.length > 100 ? `${d.error.slice(0, 99)}…` : d.error;
  return `${d.id}  ${d.status.padEnd(9)} ${d.queue}  ${who}  attempts ${d.attempts}  ${d.failedAt}  ${error}`;
}

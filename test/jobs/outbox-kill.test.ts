import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureProcesses } from '../support/fixture-process.ts';
import { purgePrefix } from '../../src/jobs/bullmq.ts';
import { driverCases, queueName, redisUrl, uniquePrefix, usingPostgres } from './support.ts';
import { randomBytes } from 'node:crypto';

/**
 * kill -9 between commit and relay (issue #23): a process commits a change with its job (an
 * outbox row), its relay claims the row and is SIGKILLed before marking it sent — after the driver
 * took the job, or before. The restarted process must run the job exactly once: one completion
 * record, one row written by the job, the cause kept, the outbox row sent and done.
 * pg-boss runs on a PGlite data folder (the embedded profile: the process is the whole server);
 * BullMQ on the run's Redis (with the run's PostgreSQL when there is one).
 */
const fixture = fixtureProcesses('test/jobs/fixtures/kill-relay.ts', 45_000);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-kill-relay-'));
const prefixes: string[] = [];

afterAll(async () => {
  fixture.killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
  if (redisUrl) for (const p of prefixes) await purgePrefix(redisUrl, p);
});

const cases = driverCases.flatMap((c) => (['after', 'before'] as const).map((point) => ({ ...c, point })));

describe.each(cases)('relay killed between commit and hand-over mark: $label, $point the hand-over', (c) => {
  it('loses nothing and doubles nothing once the process is restarted', async () => {
    const env: Record<string, string> = {
      KILL_DRIVER: c.kind,
      KILL_POINT: c.point,
      KILL_QUEUE: queueName('outbox-kill'),
      KILL_NAMESPACE: `kill-${randomBytes(6).toString('hex')}`,
      KILL_DB: c.kind === 'bullmq' && usingPostgres ? process.env.OCSUITE_TEST_DATABASE_URL! : path.join(tmp, `${c.kind}-${c.point}-pgdata`),
      ...(c.kind === 'bullmq' ? { REDIS_URL: redisUrl!, KILL_PREFIX: uniquePrefix() } : {}),
    };
    if (env.KILL_PREFIX) prefixes.push(env.KILL_PREFIX);
    const first = fixture.start({ ...env, KILL_PHASE: 'first' });
    // A PGlite process boots and migrates its data folder first: slow on a loaded machine.
    const { tenant, job, entry } = (await first.waitFor('job', 150_000)) as { tenant: string; job: string; entry: string };
    expect((await first.waitFor('killPoint')).killPoint).toBe(c.point);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = fixture.start({ ...env, KILL_PHASE: 'second', KILL_TENANT: tenant, KILL_JOB: job, KILL_ENTRY: entry });
    const result = await second.waitFor('completions', 150_000);
    expect(await second.exited).toBe(0);
    // Done, once. (After the hand-over the job may run from the first hand-over before the restarted
    // relay gets to the row, which then is never handed over again: `sent` stays unset.)
    expect(result).toMatchObject({ completions: 1, causes: 1, jobEntries: 1, runs: 1, row: { done: true } });
    if (c.point === 'before') expect(result.row).toMatchObject({ sent: true });
    expect((result.row as { attempts: number }).attempts).toBeGreaterThanOrEqual(1);
  }, 360_000);
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureProcesses } from '../support/fixture-process.ts';
import { purgePrefix } from '../../src/jobs/bullmq.ts';
import { driverCases, queueName, redisUrl, uniquePrefix, usingPostgres } from './support.ts';

/**
 * A worker process is SIGKILLed in the middle of a tenant job (inside its
 * transaction). A new worker on the same stores must run the job again and
 * complete it exactly once: one completion record, one row written.
 * pg-boss runs on a PGlite data folder (the embedded profile: the "worker" is
 * the whole process); BullMQ on the run's Redis.
 */
const fixture = fixtureProcesses('test/jobs/fixtures/kill-worker.ts', 45_000);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-kill-'));
const prefixes: string[] = [];

afterAll(async () => {
  fixture.killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
  if (redisUrl) for (const p of prefixes) await purgePrefix(redisUrl, p);
});

describe.each(driverCases)('worker killed mid-job: $label', (c) => {
  it('runs the job again in a new worker and completes it once', async () => {
    const env: Record<string, string> = {
      KILL_DRIVER: c.kind,
      KILL_QUEUE: queueName('kill'),
      KILL_DB: c.kind === 'bullmq' && usingPostgres ? process.env.OCSUITE_TEST_DATABASE_URL! : path.join(tmp, `${c.kind}-pgdata`),
      ...(c.kind === 'bullmq' ? { REDIS_URL: redisUrl!, KILL_PREFIX: uniquePrefix() } : {}),
    };
    if (env.KILL_PREFIX) prefixes.push(env.KILL_PREFIX);
    const first = fixture.start({ ...env, KILL_PHASE: 'first' });
    const { tenant, job } = (await first.waitFor('job')) as { tenant: string; job: string };
    expect((await first.waitFor('started')).started).toBe(job);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = fixture.start({ ...env, KILL_PHASE: 'second', KILL_TENANT: tenant, KILL_JOB: job });
    const result = await second.waitFor('completions', 55_000);
    expect(await second.exited).toBe(0);
    expect(result).toEqual({ completions: 1, entries: 1, runs: 1 });
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureProcesses } from '../support/fixture-process.ts';
import { queueName } from './support.ts';

/**
 * pg-boss gives a job one spare delivery beyond its attempts, so that a last
 * attempt lost with its worker still reaches the dead letters. Issue #22 §5:
 * the spare delivery's worker is SIGKILLed too — the job must still end as a
 * dead letter (pg-boss moves it to its dead-letter queue, whose worker records it).
 */
const fixture = fixtureProcesses('test/jobs/fixtures/kill-spare.ts', 60_000);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-spare-'));

afterAll(() => {
  fixture.killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('pg-boss: the last attempt and its spare delivery both killed with their workers', { timeout: 180_000 }, () => {
  it('still ends as a dead letter of its tenant, never completed', async () => {
    const env = { SPARE_DB: path.join(tmp, 'pgdata'), SPARE_QUEUE: queueName('spare') };
    const first = fixture.start({ ...env, SPARE_PHASE: 'first' });
    const { tenant, job } = (await first.waitFor('job')) as { tenant: string; job: string };
    expect(await first.waitFor('started')).toMatchObject({ started: job, attempt: 1 });
    first.child.kill('SIGKILL');
    await first.exited;

    const second = fixture.start({ ...env, SPARE_PHASE: 'second' });
    expect(await second.waitFor('spare')).toMatchObject({ spare: job, delivery: 2 });
    second.child.kill('SIGKILL');
    await second.exited;

    const third = fixture.start({ ...env, SPARE_PHASE: 'third', SPARE_JOB: job });
    const result = await third.waitFor('deadLetters', 90_000);
    expect(await third.exited).toBe(0);
    expect(result.completions).toBe(0);
    expect(result.deadLetters).toEqual([{ tenant_id: tenant, error: expect.stringMatching(/^lost: its last delivery ended with its worker/), attempts: 2, retryable: true }]);
    // Nothing ran the handler after the first attempt: the spare delivery was never an attempt.
    expect(third.lines.filter((l) => 'started' in l)).toEqual([]);
  });
});

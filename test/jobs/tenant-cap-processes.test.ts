import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgePrefix } from '../../src/jobs/bullmq.ts';
import { fixtureProcesses, type FixtureProcess } from '../support/fixture-process.ts';
import { eventually, queueName, redisUrl, uniquePrefix, usingPostgres } from './support.ts';

/**
 * BullMQ's tenant concurrency cap holds across worker processes (issue #22 §5):
 * two worker processes on one Redis prefix never run more of one tenant's jobs
 * at once than the cap, and a worker SIGKILLed with a slot held gives it back
 * when its lease ends. The run's Redis when there is one, else one of this file's own.
 */
const fixture = fixtureProcesses('test/jobs/fixtures/tenant-cap.ts', 60_000);
let url = redisUrl ?? '';
let own: ChildProcess | undefined;
const prefixes: string[] = [];

beforeAll(async () => {
  if (url) return;
  const port = randomInt(20_000, 40_000);
  url = `redis://127.0.0.1:${port}`;
  own = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  probe.on('error', () => {});
  await eventually('our Redis answering', async () => {
    try {
      if (probe.status !== 'ready') await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      probe.disconnect();
      return false;
    }
  }, 20_000);
  probe.disconnect();
});

afterAll(async () => {
  fixture.killAll();
  if (url) for (const p of prefixes) await purgePrefix(url, p).catch(() => {});
  own?.kill('SIGKILL');
});

function envFor(prefix: string, queue: string, tenant: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: url, CAP_PREFIX: prefix, CAP_QUEUE: queue, CAP_TENANT: tenant, CAP_CAP: '2',
    ...(usingPostgres ? { CAP_DB: process.env.OCSUITE_TEST_DATABASE_URL! } : {}),
    ...over,
  };
}

const doneIn = (p: FixtureProcess) => p.lines.filter((l) => 'done' in l).map((l) => l.done as number);

describe('BullMQ tenant concurrency across worker processes', { timeout: 180_000 }, () => {
  it('two worker processes together never run more of one tenant\'s jobs at once than its cap', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const queue = queueName('cap');
    const tenant = randomUUID();
    const a = fixture.start(envFor(prefix, queue, tenant));
    await a.waitFor('ready', 90_000);
    const b = fixture.start(envFor(prefix, queue, tenant, { CAP_SEND: '16' }));
    await b.waitFor('sent', 90_000);
    await eventually('all 16 jobs done', () => doneIn(a).length + doneIn(b).length >= 16, 90_000);
    expect([...doneIn(a), ...doneIn(b)].sort((x, y) => x - y)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    // Both processes ran the tenant's jobs, and together never more than 2 at once (a cap per
    // process would have allowed 4); deferrals used no attempt.
    expect(doneIn(a).length).toBeGreaterThan(0);
    expect(doneIn(b).length).toBeGreaterThan(0);
    const r = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      expect(Number(await r.get(`${prefix}:probe:max`))).toBe(2);
    } finally {
      r.disconnect();
    }
    expect([...a.lines, ...b.lines].filter((l) => 'done' in l).every((l) => l.attempt === 1)).toBe(true);
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
  });

  it('a worker killed while holding the slots gives them back when their lease ends', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const queue = queueName('lease');
    const tenant = randomUUID();
    // The first worker takes both slots with jobs that never end, then dies with them.
    const hog = fixture.start(envFor(prefix, queue, tenant, { CAP_HANG: '1', CAP_SEND: '2' }));
    await hog.waitFor('sent', 90_000);
    await eventually('both slots held', () => hog.lines.filter((l) => 'started' in l).length === 2, 60_000);
    hog.child.kill('SIGKILL');
    await hog.exited;
    // A new worker runs the tenant's next jobs (and the two taken back from the dead one).
    const next = fixture.start(envFor(prefix, queue, tenant, { CAP_SEND: '3', CAP_FIRST: '100' }));
    await next.waitFor('sent', 90_000);
    await eventually('the new jobs and the taken-back ones done', () => doneIn(next).length >= 5, 60_000);
    expect(doneIn(next).sort((x, y) => x - y)).toEqual([0, 1, 100, 101, 102]);
    next.child.kill('SIGKILL');
  });
});

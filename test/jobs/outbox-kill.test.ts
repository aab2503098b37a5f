import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
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
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = path.join(root, 'test/jobs/fixtures/kill-relay.ts');
const nodeBin = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : path.join(root, 'node_modules/.bin/node');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-kill-relay-'));
const children = new Set<ChildProcess>();
const prefixes: string[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
  if (redisUrl && prefixes.length) {
    const r = new Redis(redisUrl);
    for (const p of prefixes) {
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${p}:*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await r.unlink(...keys);
      } while (cursor !== '0');
    }
    r.disconnect();
  }
});

function start(env: Record<string, string>) {
  const child = spawn(nodeBin, [fixture], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines: Array<Record<string, unknown>> = [];
  let err = '';
  let buf = '';
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not ours */
      }
    }
  });
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitFor = async (key: string, ms = 45_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = lines.find((l) => key in l);
      if (hit) return hit;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker gave no "${key}" (exit ${child.exitCode}): ${err.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, waitFor, exited, lines };
}

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
    const first = start({ ...env, KILL_PHASE: 'first' });
    // A PGlite process boots and migrates its data folder first: slow on a loaded machine.
    const { tenant, job, entry } = (await first.waitFor('job', 150_000)) as { tenant: string; job: string; entry: string };
    expect((await first.waitFor('killPoint')).killPoint).toBe(c.point);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = start({ ...env, KILL_PHASE: 'second', KILL_TENANT: tenant, KILL_JOB: job, KILL_ENTRY: entry });
    const result = await second.waitFor('completions', 150_000);
    expect(await second.exited).toBe(0);
    // Done, once. (After the hand-over the job may run from the first hand-over before the restarted
    // relay gets to the row, which then is never handed over again: `sent` stays unset.)
    expect(result).toMatchObject({ completions: 1, causes: 1, jobEntries: 1, runs: 1, row: { done: true } });
    if (c.point === 'before') expect(result.row).toMatchObject({ sent: true });
    expect((result.row as { attempts: number }).attempts).toBeGreaterThanOrEqual(1);
  }, 360_000);
});

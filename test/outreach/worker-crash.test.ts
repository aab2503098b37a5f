import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureProcesses } from '../support/fixture-process.ts';
import { purgePrefix } from '../../src/jobs/bullmq.ts';
import { startSmtp } from './support.ts';

/**
 * A platform process is SIGKILLed in the middle of a campaign, inside the SMTP
 * transaction of its third message (claimed, not yet accepted, outcome not
 * recorded). A fresh process on the same database and queue finishes the
 * campaign: every recipient receives the campaign exactly once, the stalled
 * message is sent again under the same Message-ID, nothing is lost.
 * Embedded profile: PGlite data folder + pg-boss; server profile: the run's
 * PostgreSQL + BullMQ on Redis.
 */
const fixture = fixtureProcesses('test/outreach/fixtures/delivery-worker.ts', 150_000);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-outreach-crash-'));
const prefix = `ocsuite-test-${randomUUID()}`;

afterAll(async () => {
  fixture.killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
  if (process.env.REDIS_URL) await purgePrefix(process.env.REDIS_URL, prefix);
});

describe('a worker killed mid-campaign', () => {
  it('neither loses nor doubles a send once a fresh worker takes over', async () => {
    // The third message of the campaign is never answered while the first worker lives.
    let stall = true;
    let seen = 0;
    const smtp = await startSmtp({ hold: (m) => stall && m.headers.get('subject') === 'Crash test' && ++seen === 3 });
    try {
      const env: Record<string, string> = {
        WORKER_MASTER_KEYS: process.env.OCSUITE_TEST_MASTER_KEYS!,
        WORKER_DATA_DIR: path.join(tmp, 'data'),
        WORKER_SMTP_URL: smtp.url,
        WORKER_DB: process.env.OCSUITE_TEST_DATABASE_URL ?? path.join(tmp, 'pgdata'),
        ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL, WORKER_PREFIX: prefix } : {}),
      };
      const first = fixture.start({ ...env, WORKER_PHASE: 'first' });
      const setup = (await first.waitFor('campaign')) as { tenant: string; campaign: string; emails: string[] };
      const deadline = Date.now() + 120_000;
      while (smtp.held.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(smtp.held).toHaveLength(1);
      expect(smtp.received).toHaveLength(2);
      first.child.kill('SIGKILL');
      await first.exited;
      stall = false;

      const second = fixture.start({ ...env, WORKER_PHASE: 'second', WORKER_TENANT: setup.tenant, WORKER_CAMPAIGN: setup.campaign });
      const result = (await second.waitFor('status', 150_000)) as { status: string; sends: Array<{ email: string; state: string; attempts: number; message_id: string }>; sendEvents: number };
      expect(await second.exited).toBe(0);
      expect(result.status).toBe('sent');
      expect(result.sends.map((s) => s.state)).toEqual(['sent', 'sent', 'sent', 'sent', 'sent']);
      expect(result.sendEvents).toBe(5);
      for (const email of setup.emails) {
        const accepted = smtp.received.filter((m) => m.to.includes(email));
        expect(accepted, email).toHaveLength(1);
        expect(accepted[0]!.messageId).toBe(result.sends.find((s) => s.email === email)!.message_id);
      }
      // The stalled message went out again, once, under the Message-ID it had when the worker died.
      const held = smtp.held[0]!;
      const resent = smtp.received.filter((m) => m.to.join() === held.to.join());
      expect(resent).toHaveLength(1);
      expect(resent[0]!.messageId).toBe(held.messageId);
      expect(result.sends.find((s) => s.email === held.to[0])!.attempts).toBe(2);
    } finally {
      await smtp.close();
    }
  }, 400_000);
});

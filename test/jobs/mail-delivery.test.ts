import { SMTPServer } from 'smtp-server';
import { Queue } from 'bullmq';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { bearer, json, signup, startApp, uniqueEmail, type TestApp } from '../support/app.ts';

/**
 * Invitation mail goes through the job queue (pg-boss in-process on PGlite or
 * PostgreSQL; BullMQ when REDIS_URL is set) to a real SMTP server that refuses
 * the first attempt.
 */
let t: TestApp;
let smtp: SMTPServer;
const received: Array<{ to: string; raw: string }> = [];
let refusals = 0;

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, done) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString()));
      stream.on('end', () => {
        if (refusals === 0) {
          refusals++;
          // Like a real server, the refusal quotes the recipient.
          const err = Object.assign(new Error(`try again later for <${session.envelope.rcptTo.map((r) => r.address).join(',')}>`), { responseCode: 451 });
          return done(err);
        }
        received.push({ to: session.envelope.rcptTo.map((r) => r.address).join(','), raw });
        done();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const port = (smtp.server.address() as AddressInfo).port;
  t = await startApp({ SMTP_URL: `smtp://127.0.0.1:${port}` });
});

/** What the driver stores for mail jobs, as text. */
async function storedMailJobs(): Promise<Array<{ data: string }>> {
  if (t.platform.jobs.driver === 'pg-boss') {
    return withOwner(t.platform.db, (tx) => tx.query<{ data: string }>(sql`SELECT data::text AS data FROM pgboss.job WHERE name = 'mail.send'`));
  }
  const q = new Queue('mail.send', { connection: { url: t.platform.config.redisUrl! }, prefix: t.platform.config.jobsPrefix });
  try {
    const jobs = await q.getJobs(['completed', 'failed', 'wait', 'active', 'delayed']);
    return jobs.map((j) => ({ data: JSON.stringify(j.data, null, 1) }));
  } finally {
    await q.close();
  }
}

afterAll(async () => {
  await t?.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

describe('mail delivery job', () => {
  it('retries a refused delivery and delivers the invitation exactly once', async () => {
    const owner = await signup(t.app);
    const email = uniqueEmail('invitee');
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/invitations', headers: bearer(owner), payload: { email, role: 'member' } });
    expect(res.statusCode).toBe(201);
    const { acceptUrl } = json(res);
    const deadline = Date.now() + 45_000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(refusals).toBe(1);
    expect(received).toHaveLength(1);
    expect(received[0]!.to).toBe(email);
    expect(received[0]!.raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=')).toContain(acceptUrl);
    // The refused attempt was logged by its SMTP code, never by the address the server quoted.
    const logged = t.logs.join('\n');
    expect(logged).toContain('mail delivery failed');
    expect(logged).not.toContain(email);
  });

  it('never stores the one-time link in clear in the job store', async () => {
    const rows = await storedMailJobs();
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.data).not.toContain('ocs_inv_');
      expect(r.data).not.toContain('@example.com');
      expect(r.data).toMatch(/"sealed": ?"omk1\./);
    }
  });
});

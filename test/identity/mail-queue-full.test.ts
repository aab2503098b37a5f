import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { QueueFullError } from '../../src/kernel/jobs/errors.ts';
import { MAIL_QUEUE } from '../../src/kernel/mail/delivery.ts';
import { bearer, json, signup, startApp, uniqueEmail, type TestApp } from '../support/app.ts';

/**
 * When the mail queue is at its depth limit (its 10,000 jobs are not filled here: the
 * queue's own refusal is what is simulated), flows that mail a one-time link change
 * nothing, and the reset flow answers exactly as for an unknown address.
 */
let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());
afterEach(() => vi.restoreAllMocks());

const fullQueue = () => vi.spyOn(t.platform.jobs, 'assertRoom').mockRejectedValue(new QueueFullError(MAIL_QUEUE.name, 60));

describe('a full mail queue', () => {
  it('refuses an invitation with 503 and Retry-After, writing no invitation and no event', async () => {
    const owner = await signup(t.app, 'Queue Full Ltd');
    const email = uniqueEmail('not-invited');
    fullQueue();
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/invitations', headers: bearer(owner), payload: { email, role: 'member' } });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('60');
    expect(json(res).type).toBe('urn:ocsuite:problem:queue-full');
    const rows = await withOwner(t.platform.db, async (tx) => ({
      invitations: await tx.query(sql`SELECT 1 FROM invitations WHERE tenant_id = ${owner.tenantId}`),
      events: await tx.query(sql`SELECT 1 FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action = 'invitation.created'`),
    }));
    expect(rows).toEqual({ invitations: [], events: [] });
  });

  it('answers a password reset exactly as for an unknown address, storing no token', async () => {
    const owner = await signup(t.app, 'Reset Full Ltd');
    fullQueue();
    const known = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { email: owner.email } });
    const unknown = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { email: uniqueEmail('nobody') } });
    expect(known.statusCode).toBe(202);
    expect(known.body).toBe(unknown.body);
    const tokens = await withOwner(t.platform.db, (tx) => tx.query(sql`SELECT 1 FROM user_tokens WHERE user_id = ${owner.userId} AND purpose = 'password-reset'`));
    expect(tokens).toEqual([]);
  });
});

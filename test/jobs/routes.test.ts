import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { PoisonError } from '../../src/kernel/jobs/errors.ts';
import type { JobInfo } from '../../src/kernel/jobs/port.ts';
import { addMember, bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { eventually, queueName } from './support.ts';

/**
 * The dead-letter API on a running app (whatever driver this run uses):
 * tenant admins act on their own tenant's dead letters only, operators on
 * all; a retry into a full queue answers 503 with Retry-After.
 */
const operatorToken = randomBytes(36).toString('base64url');
const op = { authorization: `Bearer ${operatorToken}` };
let t: TestApp;
let A: Account;
let B: Account;
let aAdmin: Account;
let aViewer: Account;
const q = queueName('routes');
let healthy = false;
let release!: () => void;
const gate = new Promise<void>((r) => (release = r));
const completed: string[] = [];

async function deadOf(account: Account) {
  const res = await t.app.inject({ method: 'GET', url: `/api/v1/jobs/dead-letters?queue=${q}`, headers: bearer(account) });
  expect(res.statusCode).toBe(200);
  return json<{ items: Array<{ id: string; status: string; payload: { mode: string; who: string }; error: string }> }>(res).items;
}

beforeAll(async () => {
  t = await startApp({ OCSUITE_OPERATOR_TOKEN: operatorToken });
  A = await signup(t.app, 'Jobs A');
  B = await signup(t.app, 'Jobs B');
  aAdmin = await addMember(t.app, A, 'admin');
  aViewer = await addMember(t.app, A, 'viewer');
  await t.platform.jobs.define(
    { name: q, scope: 'tenant', transactional: false, retryLimit: 0, retryDelaySeconds: 1, expireInSeconds: 30, concurrency: 1, maxDepth: 1 },
    async (job: JobInfo<{ mode: string; who: string }>) => {
      if (job.data.mode === 'hold') await gate;
      else if (!healthy) throw new PoisonError(`refused ${job.data.who}`);
      completed.push(`${job.tenantId}:${job.data.who}`);
    },
  );
  // One at a time: the queue holds at most one waiting job.
  await t.platform.jobs.send(q, { mode: 'fail', who: 'a' }, { tenantId: A.tenantId });
  await eventually('dead letter of A', async () => (await deadOf(A)).length === 1);
  await t.platform.jobs.send(q, { mode: 'fail', who: 'b' }, { tenantId: B.tenantId });
  await eventually('dead letter of B', async () => (await deadOf(B)).length === 1);
});

afterAll(async () => {
  release?.();
  await t?.close();
});

describe('tenant dead-letter routes', () => {
  it("lists only the caller's tenant, and only for admins and owners", async () => {
    const mine = await deadOf(aAdmin);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ status: 'dead', payload: { mode: 'fail', who: 'a' }, error: 'refused a' });
    expect(JSON.stringify(mine)).not.toContain(B.tenantId);
    const viewer = await t.app.inject({ method: 'GET', url: '/api/v1/jobs/dead-letters', headers: bearer(aViewer) });
    expect(viewer.statusCode).toBe(403);
  });

  it("answers 404 for another tenant's dead letter, exactly like a missing one, and leaves it alone", async () => {
    const [bDead] = await deadOf(B);
    for (const action of ['retry', 'discard']) {
      const other = await t.app.inject({ method: 'POST', url: `/api/v1/jobs/dead-letters/${bDead!.id}/${action}`, headers: bearer(aAdmin) });
      const missing = await t.app.inject({ method: 'POST', url: `/api/v1/jobs/dead-letters/${randomUUID()}/${action}`, headers: bearer(aAdmin) });
      expect(other.statusCode).toBe(404);
      expect({ type: json(other).type, detail: json(other).detail }).toEqual({ type: json(missing).type, detail: json(missing).detail });
    }
    expect((await deadOf(B))[0]).toMatchObject({ id: bDead!.id, status: 'dead' });
  });

  it('answers 503 with Retry-After when the retry would overfill the queue, and keeps the dead letter', async () => {
    await t.platform.jobs.send(q, { mode: 'hold', who: 'h1' }, { tenantId: A.tenantId });
    await eventually('the held job running', async () => (await t.platform.jobs.counts(q)).active === 1);
    await t.platform.jobs.send(q, { mode: 'hold', who: 'h2' }, { tenantId: A.tenantId });
    const [aDead] = await deadOf(aAdmin);
    const res = await t.app.inject({ method: 'POST', url: `/api/v1/jobs/dead-letters/${aDead!.id}/retry`, headers: bearer(aAdmin) });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('15');
    expect(json(res)).toMatchObject({ type: 'urn:ocsuite:problem:queue-full', code: 'OCS_QUEUE_FULL' });
    expect((await deadOf(aAdmin))[0]).toMatchObject({ id: aDead!.id, status: 'dead' });
    release();
    await eventually('held jobs done', () => completed.filter((c) => c.endsWith(':h1') || c.endsWith(':h2')).length === 2);
  });

  it('retries its own dead letter: the job runs again and succeeds; a second retry is refused', async () => {
    healthy = true;
    const [aDead] = await deadOf(aAdmin);
    const res = await t.app.inject({ method: 'POST', url: `/api/v1/jobs/dead-letters/${aDead!.id}/retry`, headers: bearer(aAdmin) });
    expect(res.statusCode).toBe(202);
    expect(json(res)).toMatchObject({ id: aDead!.id, status: 'retried' });
    await eventually("A's job completed", () => completed.includes(`${A.tenantId}:a`));
    expect(completed).not.toContain(`${B.tenantId}:b`);
    expect((await deadOf(aAdmin))[0]).toMatchObject({ status: 'retried', retriedJobId: json(res).jobId });
    const again = await t.app.inject({ method: 'POST', url: `/api/v1/jobs/dead-letters/${aDead!.id}/retry`, headers: bearer(aAdmin) });
    expect(again.statusCode).toBe(404);
  });
});

describe('operator dead-letter routes', () => {
  it("see every tenant's dead letters with the operator token only", async () => {
    const denied = await t.app.inject({ method: 'GET', url: '/api/v1/operator/jobs/dead-letters', headers: bearer(A) });
    expect(denied.statusCode).toBe(401);
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/operator/jobs/dead-letters?queue=${q}`, headers: op });
    expect(res.statusCode).toBe(200);
    const tenants = json<{ items: Array<{ tenantId: string }> }>(res).items.map((i) => i.tenantId).sort();
    expect(tenants).toEqual([A.tenantId, B.tenantId].sort());
  });

  it("discard B's dead letter; the queue overview and /metrics show the queue", async () => {
    const [bDead] = await deadOf(B);
    const res = await t.app.inject({ method: 'POST', url: `/api/v1/operator/jobs/dead-letters/${bDead!.id}/discard`, headers: op });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({ id: bDead!.id, status: 'discarded', tenantId: B.tenantId, resolvedBy: 'operator:operator-token' });
    const queues = json<{ driver: string; queues: Array<{ name: string; maxDepth: number }> }>(await t.app.inject({ method: 'GET', url: '/api/v1/operator/jobs/queues', headers: op }));
    expect(queues.driver).toBe(t.platform.jobs.driver);
    expect(queues.queues.find((x) => x.name === q)).toMatchObject({ maxDepth: 1 });
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics', headers: op });
    expect(metrics.body).toContain(`ocsuite_jobs_waiting{queue="${q}"} 0`);
    expect(metrics.body).toContain(`ocsuite_jobs_dead{queue="${q}"} 0`);
    expect(metrics.body).toMatch(new RegExp(`ocsuite_jobs_oldest_waiting_age_seconds\\{queue="${q.replace(/\./g, '\\.')}"\\} 0`));
    expect(metrics.body).toContain('ocsuite_jobs_dead{queue="mail.send"}');
    // Every series the Prometheus rules and the runbook rely on is exported under that name.
    const rules = fs.readFileSync(new URL('../../docs/observability/alerts.yml', import.meta.url), 'utf8');
    // A histogram's _count/_sum/_bucket series belong to the family its # TYPE line names.
    const names = [...new Set(rules.match(/ocsuite_[a-z_]+/g))].map((n) => n.replace(/_(count|sum|bucket)$/, ''));
    expect(names.length).toBeGreaterThanOrEqual(6);
    for (const name of names) expect(metrics.body, name).toContain(`# TYPE ${name} `);
  });
});

describe('a retry that cannot finish', () => {
  const deadLetter = async (queue: string, payload: object) => {
    const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ id: string }>(sql`
      INSERT INTO job_dead_letters (tenant_id, queue, job_id, payload, error, attempts)
      VALUES (${A.tenantId}, ${queue}, ${randomUUID()}, ${JSON.stringify(payload)}::jsonb, 'failed', 1) RETURNING id`));
    return row!.id;
  };
  const statusOf = async (id: string) => (await withOwner(t.platform.db, (tx) => tx.query<{ status: string }>(sql`
    SELECT status FROM job_dead_letters WHERE id = ${id}`)))[0]!.status;

  it('on a queue this version does not define: 409, and the dead letter stays retryable', async () => {
    const id = await deadLetter('no.such.queue', { mode: 'ok', who: 'ghost' });
    const res = await t.app.inject({ method: 'POST', url: `/api/v1/jobs/dead-letters/${id}/retry`, headers: bearer(aAdmin) });
    expect(res.statusCode, res.body).toBe(409);
    expect(json(res).type).toBe('urn:ocsuite:problem:conflict');
    expect(await statusOf(id)).toBe('dead');
  });

  it('when recording it fails after the job was sent: the dead letter is handed back, and the next retry sends nothing twice', async () => {
    healthy = true;
    const id = await deadLetter(q, { mode: 'ok', who: 'once' });
    // Recording the retry fails, as a crash or a timeout would make it.
    await withOwner(t.platform.db, (tx) => tx.exec(`
      CREATE FUNCTION test_refuse_retry_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.action = 'jobs.dead_letter_retried' AND NEW.target_id = '${id}' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER test_refuse_retry_event BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_refuse_retry_event();`));
    try {
      const failed = await t.app.inject({ method: 'POST', url: `/api/v1/jobs/dead-letters/${id}/retry`, headers: bearer(aAdmin) });
      expect(failed.statusCode).toBe(500);
      expect(await statusOf(id)).toBe('dead');
    } finally {
      await withOwner(t.platform.db, (tx) => tx.exec('DROP TRIGGER test_refuse_retry_event ON audit_events; DROP FUNCTION test_refuse_retry_event();'));
    }
    const retried = await t.app.inject({ method: 'POST', url: `/api/v1/jobs/dead-letters/${id}/retry`, headers: bearer(aAdmin) });
    expect(retried.statusCode, retried.body).toBe(202);
    expect(await statusOf(id)).toBe('retried');
    await eventually('the job ran', () => completed.includes(`${A.tenantId}:once`));
    // One job, not two: the second retry found the job the first had sent.
    await new Promise((r) => setTimeout(r, 300));
    expect(completed.filter((c) => c === `${A.tenantId}:once`)).toHaveLength(1);
  });
});

describe('dead-letter lists page with a cursor (issue #22 §5)', () => {
  const pq = queueName('paging');
  const ids: string[] = [];
  beforeAll(async () => {
    // Seven of A's, three of them failed at the same instant (the id breaks the tie), and one of B's.
    await withOwner(t.platform.db, async (tx) => {
      for (let i = 0; i < 7; i++) {
        const at = i < 3 ? '2026-01-01 00:00:00.123456+00' : `2026-01-0${i} 00:00:00+00`;
        const [row] = await tx.query<{ id: string }>(sql`INSERT INTO job_dead_letters (tenant_id, queue, job_id, payload, error, attempts, failed_at)
          VALUES (${A.tenantId}, ${pq}, ${randomUUID()}, '{}'::jsonb, ${`paged ${i}`}, 1, ${at}::timestamptz) RETURNING id`);
        ids.push(row!.id);
      }
      await tx.query(sql`INSERT INTO job_dead_letters (tenant_id, queue, job_id, payload, error, attempts) VALUES (${B.tenantId}, ${pq}, ${randomUUID()}, '{}'::jsonb, 'b', 1)`);
    });
  });

  async function walk(url: (cursor: string | null) => string, headers: Record<string, string>) {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const res: Awaited<ReturnType<typeof t.app.inject>> = await t.app.inject({ method: 'GET', url: url(cursor), headers });
      expect(res.statusCode, res.body).toBe(200);
      const page: { items: Array<{ id: string; tenantId?: string }>; nextCursor: string | null } = json<{ items: Array<{ id: string; tenantId?: string }>; nextCursor: string | null }>(res);
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
      if (!cursor) return { seen, pages: pages + 1 };
    }
    throw new Error('the cursor never ended');
  }

  it('a tenant admin walks every one of their dead letters, none twice, none of another tenant', async () => {
    const { seen, pages } = await walk((c) => `/api/v1/jobs/dead-letters?queue=${pq}&limit=3${c ? `&cursor=${c}` : ''}`, bearer(aAdmin));
    expect(pages).toBe(3);
    expect(seen).toHaveLength(7);
    expect([...seen].sort()).toEqual([...ids].sort());
    const b = await walk((c) => `/api/v1/jobs/dead-letters?queue=${pq}&limit=3${c ? `&cursor=${c}` : ''}`, bearer(B));
    expect(b.seen).toHaveLength(1);
    expect(ids).not.toContain(b.seen[0]);
  });

  it("an operator pages across tenants; A's cursor in B's list shows only B's rows", async () => {
    const { seen } = await walk((c) => `/api/v1/operator/jobs/dead-letters?queue=${pq}&limit=3${c ? `&cursor=${c}` : ''}`, op);
    expect(seen).toHaveLength(8);
    const first = json<{ nextCursor: string }>(await t.app.inject({ method: 'GET', url: `/api/v1/jobs/dead-letters?queue=${pq}&limit=1`, headers: bearer(aAdmin) }));
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/jobs/dead-letters?queue=${pq}&cursor=${first.nextCursor}`, headers: bearer(B) });
    expect(res.statusCode).toBe(200);
    expect(json<{ items: Array<{ error: string }> }>(res).items.map((i) => i.error)).not.toContain('paged 0');
  });

  it('refuses a forged or tampered cursor with 400 and a page past the cap with 400', async () => {
    const first = json<{ nextCursor: string }>(await t.app.inject({ method: 'GET', url: `/api/v1/jobs/dead-letters?queue=${pq}&limit=1`, headers: bearer(aAdmin) }));
    const tampered = Buffer.from(Buffer.from(first.nextCursor, 'base64url').toString().replace(/"[0-9a-f-]{36}"/, '"\' OR 1=1 --"')).toString('base64url');
    for (const cursor of [tampered, 'AAAA', Buffer.from('[1,"2026-13-40 00:00:00+00","x"]').toString('base64url')]) {
      for (const url of [`/api/v1/jobs/dead-letters?cursor=${cursor}`, `/api/v1/operator/jobs/dead-letters?cursor=${cursor}`]) {
        const res = await t.app.inject({ method: 'GET', url, headers: url.includes('operator') ? op : bearer(aAdmin) });
        expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
      }
    }
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/jobs/dead-letters?limit=201', headers: bearer(aAdmin) })).statusCode).toBe(400);
  });
});

import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner, withTenant } from '../../src/db/transaction.ts';
import { drainAuditWrites } from '../../src/kernel/audit/background.ts';
import { TASK_ACTIONS, type TaskAction } from '../../src/modules/tasks/capabilities.ts';
import { addMember, bearer, enableMfa, json, login, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { rolledBack } from '../support/rolled-back.ts';

/**
 * Admin tasks (issue #16 §4), attacked: four-eyes holds through the API and in
 * SQL with the application bypassed; every capability a response lists is an
 * action the API then allows and every other one it refuses, for each role;
 * assignees come from the caller's tenant only; every change is audited.
 */
let t: TestApp;
let owner: Account;
let admin: Account;
let member: Account;
let worker: Account;
let viewer: Account;
let verifier: Account;
let other: Account;
const opts = { statementTimeoutMs: 5000 };

const api = (who: Account, method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1/tasks${url}`, headers: bearer(who), ...(payload ? { payload } : method === 'POST' ? { payload: {} } : {}) });

async function newTask(assignee: Account, by: Account = owner) {
  const res = await api(by, 'POST', '', { title: `task-${randomUUID().slice(0, 6)}`, description: 'do the thing', assigneeId: assignee.userId });
  expect(res.statusCode, res.body).toBe(201);
  return json<{ id: string; capabilities: string[] }>(res).id;
}

/** The request each capability stands for. */
const perform = (who: Account, id: string, action: TaskAction) => ({
  update: () => api(who, 'PATCH', `/${id}`, { title: 'edited' }),
  complete: () => api(who, 'POST', `/${id}/complete`, { note: 'done' }),
  verify: () => api(who, 'POST', `/${id}/verify`),
  reject: () => api(who, 'POST', `/${id}/reject`, { reason: 'not quite' }),
  cancel: () => api(who, 'POST', `/${id}/cancel`),
})[action]();

async function ok(res: Promise<{ statusCode: number; body: string }>) {
  const r = await res;
  expect(r.statusCode, r.body).toBeLessThan(300);
}

/** A fresh task in one of the states a caller can meet, assigned to `assignee`. */
async function taskIn(state: 'open' | 'completed' | 'verified' | 'cancelled' | 'rejected', assignee: Account): Promise<string> {
  const id = await newTask(assignee);
  if (state === 'open') return id;
  if (state === 'cancelled') {
    await ok(api(owner, 'POST', `/${id}/cancel`));
    return id;
  }
  await ok(api(assignee, 'POST', `/${id}/complete`, { note: 'done' }));
  const judge = assignee.userId === owner.userId ? admin : owner;
  if (state === 'verified') await ok(api(judge, 'POST', `/${id}/verify`));
  if (state === 'rejected') await ok(api(judge, 'POST', `/${id}/reject`, { reason: 'again' }));
  return id;
}

async function auditOf(tenantId: string, targetId: string) {
  await drainAuditWrites();
  return withOwner(t.platform.db, (tx) => tx.query<{ action: string; actor_id: string; outcome: string }>(sql`
    SELECT action, actor_id, outcome FROM audit_events WHERE tenant_id = ${tenantId} AND target_id = ${targetId} ORDER BY leaf_index`));
}

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Tasks A');
  admin = await addMember(t.app, owner, 'admin');
  member = await addMember(t.app, owner, 'member');
  worker = await addMember(t.app, owner, 'member');
  viewer = await addMember(t.app, owner, 'viewer');
  // A custom role that verifies but neither manages nor works on tasks.
  const role = json(await t.app.inject({ method: 'POST', url: '/api/v1/roles', headers: bearer(owner), payload: { name: 'Verifier', permissions: ['tasks:read', 'tasks:verify'] } }));
  const v = await addMember(t.app, owner, 'viewer');
  expect((await t.app.inject({ method: 'PUT', url: `/api/v1/members/${v.userId}/roles`, headers: bearer(owner), payload: { roles: [role.id] } })).statusCode).toBe(200);
  verifier = await login(t.app, v);
  other = await signup(t.app, 'Tasks B');
});
afterAll(async () => t?.close());

describe('four-eyes', () => {
  it('the assignee cannot verify (nor reject) their own task, even holding tasks:verify; a second person can', async () => {
    const id = await newTask(admin);
    await ok(api(admin, 'POST', `/${id}/complete`, { note: 'all done' }));
    const seen = json(await api(admin, 'GET', `/${id}`));
    expect(seen.status).toBe('completed');
    expect(seen.capabilities).not.toContain('verify');
    expect(seen.capabilities).not.toContain('reject');
    for (const action of ['verify', 'reject'] as const) {
      const res = await perform(admin, id, action);
      expect(res.statusCode).toBe(403);
      expect(json(res)).toMatchObject({ type: 'urn:ocsuite:problem:forbidden', rule: 'four-eyes' });
    }
    expect(json(await api(owner, 'GET', `/${id}`)).capabilities).toContain('verify');
    const verified = await api(owner, 'POST', `/${id}/verify`);
    expect(verified.statusCode, verified.body).toBe(200);
    expect(json(verified)).toMatchObject({ status: 'verified', verifiedBy: owner.userId, completedBy: admin.userId, assigneeId: admin.userId, capabilities: [] });
    const events = await auditOf(owner.tenantId, id);
    expect(events.map((e) => e.action)).toEqual(['task.created', 'task.completed', 'task.verified']);
    expect(events.find((e) => e.action === 'task.verified')?.actor_id).toBe(owner.userId);
    // The refused attempts are audited as denials of the assignee.
    const denials = await withOwner(t.platform.db, (tx) => tx.query<{ reason: string }>(sql`
      SELECT reason FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action = 'access.denied' AND actor_id = ${admin.userId} AND reason LIKE '%own task%'`));
    expect(denials.length).toBe(2);
  });

  it('a verified task is final, and a rejected one goes back to its assignee with the reason', async () => {
    const id = await taskIn('rejected', member);
    const back = json(await api(member, 'GET', `/${id}`));
    expect(back).toMatchObject({ status: 'open', completedBy: null, completedAt: null, rejectedBy: owner.userId, rejectionReason: 'again' });
    expect(back.capabilities).toEqual(['complete']);
    await ok(api(member, 'POST', `/${id}/complete`));
    await ok(api(verifier, 'POST', `/${id}/verify`));
    for (const action of TASK_ACTIONS) expect([403, 409], action).toContain((await perform(owner, id, action)).statusCode);
    for (const action of ['update', 'verify', 'reject', 'cancel'] as const) expect((await perform(owner, id, action)).statusCode, action).toBe(409);
  });

  it('holds in SQL with the application bypassed: the assignee cannot verify, nor claim another verified', async () => {
    const id = await taskIn('completed', member);
    const asUser = (userId: string, statement: ReturnType<typeof sql>) =>
      withTenant(t.platform.db, { tenantId: owner.tenantId, userId }, opts, (tx) => tx.query(statement));
    // The assignee verifying themselves.
    await expect(asUser(member.userId, sql`UPDATE admin_tasks SET status = 'verified', verified_by = ${member.userId}, verified_at = now() WHERE id = ${id}`))
      .rejects.toThrow(/four-eyes/);
    // Someone else's session writing the assignee as verifier, or a verifier other than itself.
    await expect(asUser(owner.userId, sql`UPDATE admin_tasks SET status = 'verified', verified_by = ${member.userId}, verified_at = now() WHERE id = ${id}`))
      .rejects.toThrow(/four-eyes/);
    await expect(asUser(member.userId, sql`UPDATE admin_tasks SET status = 'verified', verified_by = ${owner.userId}, verified_at = now() WHERE id = ${id}`))
      .rejects.toThrow(/four-eyes/);
    // Reassigning the completed task to the would-be verifier does not help either.
    await expect(asUser(admin.userId, sql`UPDATE admin_tasks SET assignee_id = ${owner.userId}, status = 'verified', verified_by = ${admin.userId}, verified_at = now() WHERE id = ${id}`))
      .resolves.toBeDefined();
    const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ status: string; verified_by: string; completed_by: string }>(sql`
      SELECT status, verified_by, completed_by FROM admin_tasks WHERE id = ${id}`));
    expect(row).toMatchObject({ status: 'verified', verified_by: admin.userId, completed_by: member.userId });
    // Without a user at all (a machine credential) nobody verifies.
    const id2 = await taskIn('completed', member);
    await expect(withTenant(t.platform.db, { tenantId: owner.tenantId }, opts, (tx) => tx.query(sql`
      UPDATE admin_tasks SET status = 'verified', verified_by = ${owner.userId}, verified_at = now() WHERE id = ${id2}`))).rejects.toThrow(/four-eyes/);
    // Skipping verification: completing on someone's behalf, or creating a task already verified.
    const id3 = await taskIn('open', member);
    await expect(asUser(owner.userId, sql`UPDATE admin_tasks SET status = 'completed', completed_by = ${member.userId}, completed_at = now() WHERE id = ${id3}`))
      .rejects.toThrow(/assignee/);
    await expect(asUser(member.userId, sql`UPDATE admin_tasks SET status = 'verified', verified_at = now(), completed_at = now() WHERE id = ${id3}`))
      .rejects.toThrow(/four-eyes|assignee/);
    await expect(asUser(owner.userId, sql`
      INSERT INTO admin_tasks (tenant_id, title, assignee_id, status, completed_at, verified_at, verified_by)
      VALUES (${owner.tenantId}, 'x', ${member.userId}, 'verified', now(), now(), ${owner.userId})`)).rejects.toThrow(/created open/);
  });

  it('the CHECK holds on its own too (trigger disabled, as the table owner)', async () => {
    const id = await taskIn('completed', member);
    const failure = await rolledBack(t.platform.db, async (tx) => {
      await tx.query(sql`ALTER TABLE admin_tasks DISABLE TRIGGER admin_tasks_guard`);
      return tx.query(sql`UPDATE admin_tasks SET status = 'verified', verified_by = assignee_id, verified_at = now() WHERE id = ${id}`)
        .then(() => null, (err: Error & { code?: string; constraint?: string }) => err);
    });
    expect(failure?.code).toBe('23514');
    expect(failure?.message).toContain('admin_tasks_four_eyes');
  });
});

describe('capabilities are exactly what the API allows', () => {
  it('for each role and each state: every listed capability succeeds, every other one is refused', async () => {
    const roles = { owner, admin, member, viewer, verifier } as const;
    const states = ['open', 'completed', 'verified', 'cancelled', 'rejected'] as const;
    let checked = 0;
    const granted = new Set<string>();
    for (const [name, who] of Object.entries(roles)) {
      // The caller's own task (when they may be assigned one) and someone else's.
      const mayWork = name !== 'viewer' && name !== 'verifier';
      for (const assignee of mayWork ? [who, worker] : [worker]) {
        for (const state of states) {
          const probe = await taskIn(state, assignee);
          const res = await api(who, 'GET', `/${probe}`);
          expect(res.statusCode).toBe(200);
          const listed: string[] = json(res).capabilities;
          // The list carries the same capabilities as the single read.
          const page = json(await api(who, 'GET', '?limit=100'));
          expect(page.items.find((x: { id: string }) => x.id === probe).capabilities).toEqual(listed);
          for (const action of TASK_ACTIONS) {
            const id = await taskIn(state, assignee);
            const attempt = await perform(who, id, action);
            const label = `${name} ${action} on ${state} task of ${assignee === who ? 'self' : 'another'} → ${attempt.statusCode} ${attempt.body}`;
            if (listed.includes(action)) granted.add(action);
            if (listed.includes(action)) expect(attempt.statusCode, label).toBe(200);
            else expect([403, 409], label).toContain(attempt.statusCode);
            checked++;
          }
        }
      }
    }
    expect(checked).toBe(8 * 5 * TASK_ACTIONS.length);
    // Not vacuous: every action was offered to someone, somewhere.
    expect([...granted].sort()).toEqual([...TASK_ACTIONS].sort());
  }, 240_000);

  it('the collection lists create only for managers, and POST agrees', async () => {
    for (const [who, can] of [[owner, true], [admin, true], [member, false], [viewer, false], [verifier, false]] as const) {
      const page = json(await api(who, 'GET', ''));
      expect(page.capabilities).toEqual(can ? ['create'] : []);
      const res = await api(who, 'POST', '', { title: 'x', assigneeId: member.userId });
      expect(res.statusCode).toBe(can ? 201 : 403);
    }
  });

  it('a capability the UI was shown earlier is refused once the state moved on', async () => {
    const id = await taskIn('completed', member);
    expect(json(await api(owner, 'GET', `/${id}`)).capabilities).toEqual(['verify', 'reject', 'cancel']);
    await ok(api(admin, 'POST', `/${id}/verify`));
    expect((await api(owner, 'POST', `/${id}/verify`)).statusCode).toBe(409);
    expect(json(await api(owner, 'GET', `/${id}`)).capabilities).toEqual([]);
  });
});

describe('assignment stays inside the tenant', () => {
  it('refuses an assignee of another tenant, a stranger, and a member who cannot work on tasks', async () => {
    for (const assigneeId of [other.userId, randomUUID(), viewer.userId]) {
      const res = await api(owner, 'POST', '', { title: 'x', assigneeId });
      expect(res.statusCode).toBe(400);
      const open = await newTask(member);
      expect((await api(owner, 'PATCH', `/${open}`, { assigneeId })).statusCode).toBe(400);
      expect(json(await api(owner, 'GET', `/${open}`)).assigneeId).toBe(member.userId);
    }
    // Nor can SQL point a task at another tenant's member.
    await expect(withTenant(t.platform.db, { tenantId: owner.tenantId, userId: owner.userId }, opts, (tx) => tx.query(sql`
      INSERT INTO admin_tasks (tenant_id, title, assignee_id) VALUES (${owner.tenantId}, 'x', ${other.userId})`))).rejects.toThrow(/foreign key/);
  });

  it("another tenant's tasks are invisible and untouchable", async () => {
    const theirs = json(await t.app.inject({ method: 'POST', url: '/api/v1/tasks', headers: bearer(other), payload: { title: 'B secret task', assigneeId: other.userId } }));
    for (const action of TASK_ACTIONS) expect((await perform(owner, theirs.id, action)).statusCode).toBe(404);
    expect((await api(owner, 'GET', `/${theirs.id}`)).statusCode).toBe(404);
    expect((await api(owner, 'GET', '?limit=100')).body).not.toContain('B secret task');
    expect(json(await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${theirs.id}`, headers: bearer(other) })).status).toBe('open');
  });

  it('a member leaving unassigns their open tasks; the verification record stays', async () => {
    const leaver = await addMember(t.app, owner, 'member');
    const open = await newTask(leaver);
    const done = await taskIn('verified', leaver);
    await enableMfa(t.app, owner);
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/members/${leaver.userId}`, headers: bearer(owner) })).statusCode).toBe(204);
    expect(json(await api(owner, 'GET', `/${open}`))).toMatchObject({ status: 'open', assigneeId: null });
    expect(json(await api(owner, 'GET', `/${done}`))).toMatchObject({ status: 'verified', assigneeId: null, completedBy: leaver.userId, verifiedBy: owner.userId });
  });
});

describe('webhook events', () => {
  it('a completion and a verification are published to the tenant (outbox), a refused attempt and a rejection are not', async () => {
    const messages = (taskId: string) => withOwner(t.platform.db, (tx) => tx.query<{ tenant_id: string; event_type: string; body: string }>(sql`
      SELECT tenant_id, event_type, body FROM webhook_messages WHERE body LIKE ${`%${taskId}%`} ORDER BY created_at`));
    const id = await taskIn('completed', member);
    expect((await perform(member, id, 'verify')).statusCode).toBe(403);
    await ok(api(owner, 'POST', `/${id}/verify`));
    const sent = await messages(id);
    expect(sent.map((m) => m.event_type)).toEqual(['tasks.task.completed', 'tasks.task.verified']);
    expect(sent.every((m) => m.tenant_id === owner.tenantId)).toBe(true);
    expect(JSON.parse(sent[1]!.body).data).toMatchObject({ id, status: 'verified', assigneeId: member.userId, verifiedBy: owner.userId });
    const rejected = await taskIn('rejected', member);
    expect((await messages(rejected)).map((m) => m.event_type)).toEqual(['tasks.task.completed']);
  });
});

describe('reading', () => {
  it('filters by status and by assignee=me, pages by cursor, and keeps due dates', async () => {
    const solo = await addMember(t.app, owner, 'member');
    const due = '2031-05-01T10:00:00.000Z';
    const created = json(await api(owner, 'POST', '', { title: 'dated', assigneeId: solo.userId, dueAt: due }));
    expect(created.dueAt).toBe(due);
    const second = await taskIn('completed', solo);
    const mine = json(await api(solo, 'GET', '?assignee=me'));
    expect(mine.items.map((x: { id: string }) => x.id).sort()).toEqual([created.id, second].sort());
    expect(json(await api(solo, 'GET', '?assignee=me&status=completed')).items.map((x: { id: string }) => x.id)).toEqual([second]);
    expect(json(await api(owner, 'PATCH', `/${created.id}`, { dueAt: null })).dueAt).toBeNull();
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page: { items: Array<{ id: string }>; nextCursor: string | null } = json(await api(owner, 'GET', `?limit=7${cursor ? `&cursor=${cursor}` : ''}`));
      for (const x of page.items) seen.add(x.id);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.has(created.id) && seen.has(second)).toBe(true);
    expect((await api(owner, 'GET', '?cursor=forged')).statusCode).toBe(400);
  });
});

describe('input', () => {
  it('bad input changes nothing', async () => {
    const id = await newTask(member);
    for (const body of [{ title: '' }, { title: 'x'.repeat(201) }, { tenantId: other.tenantId }, {}, { status: 'verified' }]) {
      expect((await api(owner, 'PATCH', `/${id}`, body)).statusCode, JSON.stringify(body)).toBe(400);
    }
    expect((await api(owner, 'POST', `/${id}/reject`, {})).statusCode).toBe(400);
    const after = json(await api(owner, 'GET', `/${id}`));
    expect(after).toMatchObject({ status: 'open', title: expect.stringMatching(/^task-/) });
    expect((await auditOf(owner.tenantId, id)).map((e) => e.action)).toEqual(['task.created']);
  });
});

describe('machines and data subjects', () => {
  it('an API key holding every task permission still cannot complete or verify: both need a person', async () => {
    if (!owner.mfa) await enableMfa(t.app, owner);
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(owner), payload: { name: 'robot', scopes: ['tasks:read', 'tasks:work', 'tasks:manage', 'tasks:verify'] } });
    expect(created.statusCode, created.body).toBe(201);
    const robot = { accessToken: json(created).key } as Account;
    const done = await taskIn('completed', member);
    const seen = json(await api(robot, 'GET', `/${done}`));
    expect(seen.capabilities).toEqual(['cancel']);
    for (const action of ['verify', 'reject'] as const) expect((await perform(robot, done, action)).statusCode).toBe(403);
    expect((await perform(robot, await newTask(member), 'complete')).statusCode).toBe(403);
  });

  it("export one person's tasks and nothing of another's; erasure nulls their references and notes", async () => {
    const { tasksModule } = await import('../../src/modules/tasks/manifest.ts');
    const subject = await addMember(t.app, owner, 'member');
    const mine = await taskIn('completed', subject);
    const notMine = await taskIn('completed', worker);
    const ref = { tenantId: owner.tenantId, userId: subject.userId, email: subject.email };
    const ctx = { tenantId: owner.tenantId, userId: owner.userId };
    const exported = await withTenant(t.platform.db, ctx, opts, (tx) => tasksModule.exportSubject!(tx, ref));
    const ids = (exported.tasks as Array<{ id: string; as: string[] }>).map((x) => x.id);
    expect(ids).toEqual([mine]);
    expect((exported.tasks as Array<{ as: string[]; completionNote: string }>)[0]).toMatchObject({ as: ['assignee_id', 'completed_by'], completionNote: 'done' });
    expect(ids).not.toContain(notMine);
    expect(await withTenant(t.platform.db, ctx, opts, (tx) => tasksModule.eraseSubject!(tx, ref))).toEqual({ admin_tasks: 1 });
    const [row] = await withOwner(t.platform.db, (tx) => tx.query(sql`SELECT assignee_id, completed_by, completion_note, status FROM admin_tasks WHERE id = ${mine}`));
    expect(row).toEqual({ assignee_id: null, completed_by: null, completion_note: null, status: 'completed' });
  });
});

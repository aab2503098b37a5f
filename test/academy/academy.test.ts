import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner, withTenant, type TenantContext } from '../../src/db/transaction.ts';
import { contextWithPermissions, type Principal } from '../../src/kernel/auth/principal.ts';
import { academyModule } from '../../src/modules/academy/manifest.ts';
import { addMember, bearer, json, login, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/**
 * Academy (issue #16 §1): a learner sees only their own progress, an instructor
 * (a custom role holding academy:teach) their own courses' learners, an admin
 * everyone's — through the API, and through the RLS policies with the
 * application's filters bypassed.
 */
let t: TestApp;
let owner: Account;
let admin: Account;
let teacher: Account;
let teacher2: Account;
let learner: Account;
let learner2: Account;
let course: { id: string };
let course2: { id: string };
let lesson: { id: string };
let lesson2: { id: string };
let other: Account;
let otherCourse: { id: string };

const api = (who: Account, method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1/academy${url}`, headers: bearer(who), ...(payload ? { payload } : {}) });
const ok = async (res: Awaited<ReturnType<typeof api>>, status = 200) => {
  expect(res.statusCode, res.body).toBe(status);
  return json(res);
};
const opts = { statementTimeoutMs: 5000 };
/** Straight SQL as the runtime role: no service, no application filter. */
const asRuntime = <T>(ctx: TenantContext, fn: Parameters<typeof withTenant<T>>[3]) => withTenant(t.platform.db, ctx, opts, fn);

async function instructor(): Promise<Account> {
  const role = json(await t.app.inject({ method: 'POST', url: '/api/v1/roles', headers: bearer(owner), payload: { name: `teacher-${randomUUID().slice(0, 6)}`, permissions: ['academy:teach', 'academy:learn'] } }));
  const m = await addMember(t.app, owner, 'viewer');
  const res = await t.app.inject({ method: 'PUT', url: `/api/v1/members/${m.userId}/roles`, headers: bearer(owner), payload: { roles: [role.id] } });
  expect(res.statusCode, res.body).toBe(200);
  return login(t.app, m);
}

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Academy');
  admin = await addMember(t.app, owner, 'admin');
  teacher = await instructor();
  teacher2 = await instructor();
  learner = await addMember(t.app, owner, 'viewer');
  learner2 = await addMember(t.app, owner, 'member');
  course = await ok(await api(teacher, 'POST', '/courses', { title: 'Secure coding', summary: '# Intro\n<script>alert(1)</script>', status: 'published' }), 201);
  course2 = await ok(await api(teacher2, 'POST', '/courses', { title: 'Threat modelling', status: 'published' }), 201);
  lesson = await ok(await api(teacher, 'POST', `/courses/${course.id}/lessons`, {
    title: 'Injection', body: 'Use bound parameters.',
    quiz: [{ question: 'Bind or concatenate?', options: ['concatenate', 'bind'], answer: 1 }, { question: '2+2', options: ['3', '4', '5'], answer: 1 }],
  }), 201);
  lesson2 = await ok(await api(teacher2, 'POST', `/courses/${course2.id}/lessons`, { title: 'STRIDE' }), 201);
  for (const [who, c, l] of [[learner, course, lesson], [learner2, course, lesson], [learner2, course2, lesson2]] as const) {
    await ok(await api(who, 'POST', `/courses/${c.id}/enrolments`), 201);
    await ok(await api(who, 'PUT', `/lessons/${l.id}/completion`));
  }
  await ok(await api(learner, 'POST', `/lessons/${lesson.id}/quiz-attempts`, { answers: [1, 0] }), 201);
  await ok(await api(learner2, 'POST', `/lessons/${lesson.id}/quiz-attempts`, { answers: [1, 1] }), 201);
  other = await signup(t.app, 'Other academy');
  otherCourse = await ok(await api(other, 'POST', '/courses', { title: 'Other tenant course', status: 'published' }), 201);
});
afterAll(() => t?.close());

describe('courses and lessons', () => {
  it('stores lesson and course text as given (never rendered) and hides quiz answers from learners', async () => {
    const c = await ok(await api(learner, 'GET', `/courses/${course.id}`));
    expect(c.summary).toBe('# Intro\n<script>alert(1)</script>');
    expect(c.lessons.map((l: { id: string }) => l.id)).toEqual([lesson.id]);
    const asLearner = await ok(await api(learner, 'GET', `/lessons/${lesson.id}`));
    expect(asLearner.quiz).toEqual([{ question: 'Bind or concatenate?', options: ['concatenate', 'bind'] }, { question: '2+2', options: ['3', '4', '5'] }]);
    const asTeacher = await ok(await api(teacher, 'GET', `/lessons/${lesson.id}`));
    expect(asTeacher.quiz.map((q: { answer: number }) => q.answer)).toEqual([1, 1]);
    // Another instructor is a learner of this course as far as answers go.
    expect((await ok(await api(teacher2, 'GET', `/lessons/${lesson.id}`))).quiz[0].answer).toBeUndefined();
  });

  it('grades quizzes on the server', async () => {
    const mine = await ok(await api(learner, 'GET', '/progress'));
    expect(mine.quizResults.map((r: { score: number; maxScore: number }) => [r.score, r.maxScore])).toEqual([[1, 2]]);
    const bad = await api(learner, 'POST', `/lessons/${lesson.id}/quiz-attempts`, { answers: [1] });
    expect(bad.statusCode).toBe(400);
    expect((await ok(await api(learner, 'GET', '/progress'))).quizResults).toHaveLength(1);
  });

  it('keeps drafts to their instructor and managers', async () => {
    const draft = await ok(await api(teacher, 'POST', '/courses', { title: 'Unreleased' }), 201);
    expect(draft.status).toBe('draft');
    expect((await api(learner, 'GET', `/courses/${draft.id}`)).statusCode).toBe(404);
    expect((await api(learner, 'POST', `/courses/${draft.id}/enrolments`)).statusCode).toBe(404);
    expect(json(await api(learner, 'GET', '/courses')).items.map((c: { id: string }) => c.id)).not.toContain(draft.id);
    expect((await api(teacher2, 'GET', `/courses/${draft.id}`)).statusCode).toBe(404);
    await ok(await api(teacher, 'GET', `/courses/${draft.id}`));
    await ok(await api(admin, 'GET', `/courses/${draft.id}`));
  });

  it('lets only the instructor or a manager change a course; bad input changes nothing', async () => {
    expect((await api(teacher2, 'PATCH', `/courses/${course.id}`, { title: 'Hijacked' })).statusCode).toBe(403);
    expect((await api(teacher2, 'POST', `/courses/${course.id}/lessons`, { title: 'Planted' })).statusCode).toBe(403);
    expect((await api(teacher2, 'DELETE', `/lessons/${lesson.id}`)).statusCode).toBe(403);
    expect((await api(learner, 'PATCH', `/courses/${course.id}`, { title: 'Hijacked' })).statusCode).toBe(403);
    const badQuiz = await api(teacher, 'POST', `/courses/${course.id}/lessons`, { title: 'Bad', quiz: [{ question: 'q', options: ['a', 'b'], answer: 5 }] });
    expect(badQuiz.statusCode).toBe(400);
    const c = await ok(await api(teacher, 'GET', `/courses/${course.id}`));
    expect(c.title).toBe('Secure coding');
    expect(c.lessons).toHaveLength(1);
    expect((await ok(await api(admin, 'PATCH', `/courses/${course2.id}`, { summary: 'Reviewed' }))).summary).toBe('Reviewed');
  });

  it("answers 404 for another tenant's course and lesson, exactly like a missing one", async () => {
    const missing = await api(owner, 'GET', `/courses/${randomUUID()}`);
    for (const [method, url] of [['GET', `/courses/${otherCourse.id}`], ['PATCH', `/courses/${otherCourse.id}`], ['POST', `/courses/${otherCourse.id}/enrolments`],
      ['GET', `/courses/${otherCourse.id}/learners`], ['DELETE', `/courses/${otherCourse.id}`]] as const) {
      const res = await api(owner, method, url, method === 'PATCH' ? { title: 'x' } : undefined);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(json(res).detail).toBe(json(missing).detail);
    }
    expect((await api(other, 'GET', `/lessons/${lesson.id}`)).statusCode).toBe(404);
    expect((await api(other, 'GET', `/learners/${learner.userId}/progress`)).statusCode).toBe(404);
    expect((await ok(await api(other, 'GET', `/courses/${otherCourse.id}`))).title).toBe('Other tenant course');
  });
});

describe('who sees whose progress (API)', () => {
  it('a learner sees only their own progress', async () => {
    const mine = await ok(await api(learner, 'GET', '/progress'));
    expect(mine.learnerId).toBe(learner.userId);
    expect(mine.enrolments.map((e: { courseId: string; lessonsCompleted: number }) => [e.courseId, e.lessonsCompleted])).toEqual([[course.id, 1]]);
    expect(JSON.stringify(mine)).not.toContain(learner2.userId);
    // Learner routes for others' data need academy:teach or academy:manage.
    expect((await api(learner, 'GET', `/courses/${course.id}/learners`)).statusCode).toBe(403);
    expect((await api(learner, 'GET', `/learners/${learner2.userId}/progress`)).statusCode).toBe(403);
  });

  it("an instructor sees their own courses' learners only", async () => {
    const mine = await ok(await api(teacher, 'GET', `/courses/${course.id}/learners`));
    expect(mine.items.map((l: { learnerId: string }) => l.learnerId).sort()).toEqual([learner.userId, learner2.userId].sort());
    expect(mine.items.find((l: { learnerId: string }) => l.learnerId === learner.userId)).toMatchObject({
      email: learner.email, lessonsCompleted: 1, lessonsTotal: 1, bestQuizScores: [{ lessonId: lesson.id, score: 1, maxScore: 2 }],
    });
    // Another instructor's course reads like a missing one.
    const theirs = await api(teacher, 'GET', `/courses/${course2.id}/learners`);
    expect(theirs.statusCode).toBe(404);
    expect(json(theirs).detail).toBe(json(await api(teacher, 'GET', `/courses/${randomUUID()}/learners`)).detail);
    expect((await api(teacher, 'GET', `/learners/${learner2.userId}/progress`)).statusCode).toBe(403);
  });

  it('an admin sees every course\'s learners and any member\'s progress, and the reading is audited', async () => {
    expect((await ok(await api(admin, 'GET', `/courses/${course2.id}/learners`))).items.map((l: { learnerId: string }) => l.learnerId)).toEqual([learner2.userId]);
    const p = await ok(await api(admin, 'GET', `/learners/${learner2.userId}/progress`));
    expect(p.enrolments.map((e: { courseId: string }) => e.courseId).sort()).toEqual([course.id, course2.id].sort());
    expect(p.quizResults.map((r: { score: number }) => r.score)).toEqual([2]);
    expect((await api(admin, 'GET', `/learners/${other.userId}/progress`)).statusCode).toBe(404);
    const events = await withOwner(t.platform.db, (tx) => tx.query<{ action: string; actor_id: string; target_id: string }>(sql`
      SELECT action, actor_id, target_id FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action LIKE 'academy.%' ORDER BY leaf_index`));
    const actions = events.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['academy.course.created', 'academy.lesson.created', 'academy.enrolment.created', 'academy.learners.viewed']));
    expect(events.some((e) => e.action === 'academy.learners.viewed' && e.actor_id === admin.userId && e.target_id === learner2.userId)).toBe(true);
  });
});

describe('the record-level rule holds with the application filter bypassed (RLS)', () => {
  const tables = ['academy_enrolments', 'academy_progress', 'academy_quiz_results'] as const;
  const learnersIn = (ctx: TenantContext, table: string) =>
    asRuntime(ctx, (tx) => tx.query<{ learner_id: string; course_id: string }>(sql`SELECT learner_id, course_id FROM ${sql.identifier(table)}`));

  it('a learner: only their own rows, whatever the query asks', async () => {
    for (const table of tables) {
      const rows = await learnersIn({ tenantId: owner.tenantId, userId: learner.userId }, table);
      expect(rows.length, table).toBeGreaterThan(0);
      expect(rows.every((r) => r.learner_id === learner.userId), table).toBe(true);
    }
    // Claiming academy:teach in the context is not enough to see another course's learners: it
    // must be the course's instructor — and the context is built from the principal, never from input.
    const rows = await learnersIn({ tenantId: owner.tenantId, userId: learner.userId, permissions: ['academy:teach'] }, 'academy_progress');
    expect(rows.every((r) => r.learner_id === learner.userId)).toBe(true);
  });

  it("an instructor: their own courses' learners only, and only while they hold academy:teach", async () => {
    const ctx = { tenantId: owner.tenantId, userId: teacher2.userId, permissions: ['academy:teach'] };
    for (const table of tables) {
      const rows = await learnersIn(ctx, table);
      expect(rows.every((r) => r.course_id === course2.id), table).toBe(true);
    }
    expect((await learnersIn(ctx, 'academy_progress')).map((r) => r.learner_id)).toEqual([learner2.userId]);
    // The instructor without academy:teach in the transaction (the role was taken away) sees none.
    expect(await learnersIn({ tenantId: owner.tenantId, userId: teacher2.userId }, 'academy_progress')).toEqual([]);
  });

  it('academy:manage sees all of the tenant, and nothing of another tenant', async () => {
    const rows = await learnersIn({ tenantId: owner.tenantId, userId: admin.userId, permissions: ['academy:manage'] }, 'academy_progress');
    expect(new Set(rows.map((r) => r.learner_id))).toEqual(new Set([learner.userId, learner2.userId]));
    expect(await learnersIn({ tenantId: other.tenantId, userId: other.userId, permissions: ['academy:manage'] }, 'academy_progress')).toEqual([]);
  });

  it("nobody writes another learner's records, nor changes a course they do not teach", async () => {
    const as2 = { tenantId: owner.tenantId, userId: learner2.userId };
    await expect(asRuntime(as2, (tx) => tx.query(sql`
      INSERT INTO academy_quiz_results (tenant_id, course_id, lesson_id, learner_id, score, max_score, answers)
      VALUES (${owner.tenantId}, ${course.id}, ${lesson.id}, ${learner.userId}, 2, 2, '{1,1}')`))).rejects.toThrow(/row-level security/);
    expect(await asRuntime(as2, (tx) => tx.query(sql`DELETE FROM academy_progress WHERE learner_id = ${learner.userId} RETURNING lesson_id`))).toEqual([]);
    expect(await asRuntime(as2, (tx) => tx.query(sql`DELETE FROM academy_enrolments WHERE learner_id = ${learner.userId} RETURNING course_id`))).toEqual([]);
    const t2 = { tenantId: owner.tenantId, userId: teacher2.userId, permissions: ['academy:teach'] };
    expect(await asRuntime(t2, (tx) => tx.query(sql`UPDATE academy_courses SET title = 'pwned' WHERE id = ${course.id} RETURNING id`))).toEqual([]);
    expect(await asRuntime(t2, (tx) => tx.query(sql`UPDATE academy_lessons SET body = 'pwned' WHERE id = ${lesson.id} RETURNING id`))).toEqual([]);
    await expect(asRuntime(t2, (tx) => tx.query(sql`
      INSERT INTO academy_lessons (tenant_id, course_id, position, title) VALUES (${owner.tenantId}, ${course.id}, 9, 'planted')`))).rejects.toThrow(/row-level security/);
    const [still] = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM academy_progress WHERE learner_id = ${learner.userId}`));
    expect(still!.n).toBe(1);
    expect(json(await api(learner, 'GET', `/courses/${course.id}`)).title).toBe('Secure coding');
  });

  it('the context takes only permissions the principal holds, and refuses malformed ones', async () => {
    const principal = { tenantId: owner.tenantId, userId: learner.userId, permissions: new Set(['academy:learn']) } as unknown as Principal;
    expect(contextWithPermissions(principal, ['academy:teach', 'academy:manage']).permissions).toEqual([]);
    await expect((async () => asRuntime({ tenantId: owner.tenantId, permissions: ['academy:manage,x'] }, async () => 1))()).rejects.toThrow(/permission/);
  });
});

describe('data-subject hooks', () => {
  const manager = () => ({ tenantId: owner.tenantId, userId: admin.userId, permissions: ['academy:manage'] });

  it("exports everything about one learner and nothing of another's", async () => {
    const subject = { tenantId: owner.tenantId, userId: learner.userId, email: learner.email };
    const data = await asRuntime(manager(), (tx) => academyModule.exportSubject!(tx, subject));
    const text = JSON.stringify(data);
    expect(text).toContain(course.id);
    expect((data.quizResults as Array<{ answers: number[] }>)[0]!.answers).toEqual([1, 0]);
    expect(text).not.toContain(learner2.userId);
    expect(text).not.toContain(course2.id);
  });

  it("erases a learner's records and unnames the courses an instructor taught, leaving others' untouched", async () => {
    const subject = { tenantId: owner.tenantId, userId: learner.userId, email: learner.email };
    const counts = await asRuntime(manager(), (tx) => academyModule.eraseSubject!(tx, subject));
    expect(counts).toMatchObject({ academy_enrolments: 1, academy_progress: 1, academy_quiz_results: 1 });
    const left = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`
      SELECT ((SELECT count(*) FROM academy_enrolments WHERE learner_id = ${learner.userId}) + (SELECT count(*) FROM academy_progress WHERE learner_id = ${learner.userId})
        + (SELECT count(*) FROM academy_quiz_results WHERE learner_id = ${learner.userId}))::int AS n`));
    expect(left[0]!.n).toBe(0);
    expect((await ok(await api(learner2, 'GET', '/progress'))).enrolments).toHaveLength(2);
    await asRuntime(manager(), (tx) => academyModule.eraseSubject!(tx, { tenantId: owner.tenantId, userId: teacher2.userId, email: teacher2.email }));
    expect((await ok(await api(admin, 'GET', `/courses/${course2.id}`))).instructorId).toBeNull();
  });
});

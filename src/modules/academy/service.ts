import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextWithPermissions, type Principal } from '../../kernel/auth/principal.ts';
import { isUuid } from '../../kernel/ids.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createWebhookPublisher } from '../webhooks/publish.ts';
import { forbidden, notFound, ProblemError } from '../../http/problem.ts';

/** The permissions the academy's RLS policies consult (migration 0061). */
export const ACADEMY_POLICY_PERMISSIONS = ['academy:teach', 'academy:manage'] as const;

interface CourseRow {
  id: string;
  title: string;
  summary: string;
  status: 'draft' | 'published';
  instructor_id: string | null;
  created_at: Date;
  updated_at: Date;
  cursor_ts: string;
}
interface QuizQuestion { question: string; options: string[]; answer: number }
interface LessonRow {
  id: string;
  course_id: string;
  position: number;
  title: string;
  body: string;
  quiz: QuizQuestion[];
  created_at: Date;
  updated_at: Date;
}
interface EnrolmentRow {
  course_id: string;
  course_title: string | null;
  learner_id: string;
  enrolled_at: Date;
  completed: number;
  total: number;
}
interface QuizResultRow { id: string; lesson_id: string; course_id: string; score: number; max_score: number; submitted_at: Date }

const courseColumns = sql`id, title, summary, status, instructor_id, created_at, updated_at, created_at::text AS cursor_ts`;
const lessonColumns = sql`id, course_id, position, title, body, quiz, created_at, updated_at`;

const courseView = (r: CourseRow) => ({
  id: r.id, title: r.title, summary: r.summary, status: r.status, instructorId: r.instructor_id,
  createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString(),
});
const lessonView = (r: LessonRow, withAnswers: boolean) => ({
  id: r.id, courseId: r.course_id, position: r.position, title: r.title, body: r.body,
  quiz: r.quiz.map((q) => ({ question: q.question, options: q.options, ...(withAnswers ? { answer: q.answer } : {}) })),
  createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString(),
});
const enrolmentView = (r: EnrolmentRow) => ({
  courseId: r.course_id, courseTitle: r.course_title ?? '', learnerId: r.learner_id, enrolledAt: r.enrolled_at.toISOString(),
  lessonsCompleted: Number(r.completed), lessonsTotal: Number(r.total),
});
const quizResultView = (r: QuizResultRow) => ({
  id: r.id, lessonId: r.lesson_id, courseId: r.course_id, score: r.score, maxScore: r.max_score, submittedAt: r.submitted_at.toISOString(),
});

/** Enrolments with their progress; `where` narrows them (the RLS policy narrows them anyway). */
const enrolmentsWhere = (where: ReturnType<typeof sql>) => sql`
  SELECT e.course_id, c.title AS course_title, e.learner_id, e.enrolled_at,
    (SELECT count(*) FROM academy_progress p WHERE p.tenant_id = e.tenant_id AND p.course_id = e.course_id AND p.learner_id = e.learner_id)::int AS completed,
    (SELECT count(*) FROM academy_lessons l WHERE l.tenant_id = e.tenant_id AND l.course_id = e.course_id)::int AS total
  FROM academy_enrolments e LEFT JOIN academy_courses c ON c.tenant_id = e.tenant_id AND c.id = e.course_id
  WHERE ${where} ORDER BY e.enrolled_at, e.course_id LIMIT 1000`;

/**
 * Academy: courses and lessons (tenant content), enrolments, progress and quiz
 * results (the learner's personal data). Two walls: each query filters what the
 * caller may see, and every statement runs with the caller's user and academy
 * permissions set for the RLS policies of migration 0061, which admit a
 * progress row only to its learner, its course's instructor and academy managers.
 * Whatever another tenant has, or the caller may not see, is a 404.
 */
export function createAcademyService(platform: Platform) {
  const ctx = (p: Principal) => contextWithPermissions(p, ACADEMY_POLICY_PERMISSIONS);
  const webhooks = createWebhookPublisher(platform);
  const manages = (p: Principal) => p.permissions.has('academy:manage');
  const teaches = (p: Principal, course: { instructor_id: string | null }) =>
    manages(p) || (p.permissions.has('academy:teach') && p.userId !== null && course.instructor_id === p.userId);
  /** Published courses for everyone; drafts for their instructor and managers. */
  const visible = (p: Principal) => manages(p) ? sql`true` : sql`(status = 'published' OR instructor_id = ${p.userId})`;

  async function courseOf(tx: Session, p: Principal, id: string): Promise<CourseRow> {
    if (!isUuid(id)) throw notFound('course');
    const [row] = await tx.query<CourseRow>(sql`SELECT ${courseColumns} FROM academy_courses WHERE id = ${id} AND ${visible(p)}`);
    if (!row) throw notFound('course');
    return row;
  }
  async function lessonOf(tx: Session, p: Principal, id: string): Promise<{ lesson: LessonRow; course: CourseRow }> {
    if (!isUuid(id)) throw notFound('lesson');
    const [lesson] = await tx.query<LessonRow>(sql`SELECT ${lessonColumns} FROM academy_lessons WHERE id = ${id}`);
    if (!lesson) throw notFound('lesson');
    const [course] = await tx.query<CourseRow>(sql`SELECT ${courseColumns} FROM academy_courses WHERE id = ${lesson.course_id} AND ${visible(p)}`);
    if (!course) throw notFound('lesson');
    return { lesson, course };
  }
  const assertTeaches = (p: Principal, course: CourseRow) => {
    if (!teaches(p, course)) throw forbidden("Only the course's instructor or an academy manager may change it.");
  };
  const requireUser = (p: Principal, what: string): string => {
    if (!p.userId) throw new ProblemError('validation-failed', 400, `${what} belongs to a person; an API key cannot do it.`);
    return p.userId;
  };
  const audit = (tx: Session, p: Principal, action: string, target: { type: string; id: string }, metadata?: Record<string, unknown>) =>
    recordAuditEvent(tx, { tenantId: p.tenantId, actor: auditActorOf(p), action, target, outcome: 'success', ...(metadata ? { metadata } : {}) });

  async function enrolled(tx: Session, courseId: string, learnerId: string): Promise<boolean> {
    const [row] = await tx.query(sql`SELECT 1 FROM academy_enrolments WHERE course_id = ${courseId} AND learner_id = ${learnerId}`);
    return Boolean(row);
  }

  return {
    async listCourses(p: Principal, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 20;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<CourseRow>(ctx(p), sql`
        SELECT ${courseColumns} FROM academy_courses WHERE ${visible(p)}
        ${after ? sql`AND (created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(courseView), nextCursor };
    },

    async getCourse(p: Principal, id: string) {
      return platform.withTenant(ctx(p), async (tx) => {
        const course = await courseOf(tx, p, id);
        const lessons = await tx.query<{ id: string; position: number; title: string }>(sql`
          SELECT id, position, title FROM academy_lessons WHERE course_id = ${course.id} ORDER BY position, created_at, id LIMIT 1000`);
        return { ...courseView(course), lessons };
      });
    },

    async createCourse(p: Principal, input: { title: string; summary?: string | undefined; status?: 'draft' | 'published' | undefined }) {
      const instructor = requireUser(p, 'Teaching a course');
      return platform.withTenant(ctx(p), async (tx) => {
        const [row] = await tx.query<CourseRow>(sql`
          INSERT INTO academy_courses (tenant_id, title, summary, status, instructor_id)
          VALUES (${p.tenantId}, ${input.title}, ${input.summary ?? ''}, ${input.status ?? 'draft'}, ${instructor})
          RETURNING ${courseColumns}`);
        await audit(tx, p, 'academy.course.created', { type: 'academy_course', id: row!.id }, { status: row!.status });
        return courseView(row!);
      });
    },

    async updateCourse(p: Principal, id: string, patch: { title?: string | undefined; summary?: string | undefined; status?: 'draft' | 'published' | undefined }) {
      return platform.withTenant(ctx(p), async (tx) => {
        const current = await courseOf(tx, p, id);
        assertTeaches(p, current);
        const [row] = await tx.query<CourseRow>(sql`
          UPDATE academy_courses SET title = ${patch.title ?? current.title}, summary = ${patch.summary ?? current.summary},
            status = ${patch.status ?? current.status}, updated_at = now()
          WHERE id = ${current.id} RETURNING ${courseColumns}`);
        await audit(tx, p, 'academy.course.updated', { type: 'academy_course', id: current.id },
          patch.status && patch.status !== current.status ? { from: current.status, to: patch.status } : undefined);
        return courseView(row!);
      });
    },

    async deleteCourse(p: Principal, id: string) {
      await platform.withTenant(ctx(p), async (tx) => {
        const current = await courseOf(tx, p, id);
        assertTeaches(p, current);
        // Lessons, enrolments, progress and results go with it (foreign keys cascade).
        const [counts] = await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM academy_enrolments WHERE course_id = ${current.id}`);
        await tx.query(sql`DELETE FROM academy_courses WHERE id = ${current.id}`);
        await audit(tx, p, 'academy.course.deleted', { type: 'academy_course', id: current.id }, { enrolments: counts?.n ?? 0 });
      });
    },

    async createLesson(p: Principal, courseId: string, input: { title: string; body?: string | undefined; position?: number | undefined; quiz?: QuizQuestion[] | undefined }) {
      assertQuiz(input.quiz);
      return platform.withTenant(ctx(p), async (tx) => {
        const course = await courseOf(tx, p, courseId);
        assertTeaches(p, course);
        const position = input.position ?? (await nextPosition(tx, course.id));
        const [created] = await tx.query<LessonRow>(sql`
          INSERT INTO academy_lessons (tenant_id, course_id, position, title, body, quiz)
          VALUES (${p.tenantId}, ${course.id}, ${position}, ${input.title}, ${input.body ?? ''}, ${JSON.stringify(input.quiz ?? [])}::jsonb)
          RETURNING ${lessonColumns}`);
        await tx.query(sql`UPDATE academy_courses SET updated_at = now() WHERE id = ${course.id}`);
        await audit(tx, p, 'academy.lesson.created', { type: 'academy_lesson', id: created!.id }, { courseId: course.id });
        return lessonView(created!, true);
      });
    },

    async getLesson(p: Principal, id: string) {
      return platform.withTenant(ctx(p), async (tx) => {
        const { lesson, course } = await lessonOf(tx, p, id);
        return lessonView(lesson, teaches(p, course));
      });
    },

    async updateLesson(p: Principal, id: string, patch: { title?: string | undefined; body?: string | undefined; position?: number | undefined; quiz?: QuizQuestion[] | undefined }) {
      assertQuiz(patch.quiz);
      return platform.withTenant(ctx(p), async (tx) => {
        const { lesson, course } = await lessonOf(tx, p, id);
        assertTeaches(p, course);
        const [row] = await tx.query<LessonRow>(sql`
          UPDATE academy_lessons SET title = ${patch.title ?? lesson.title}, body = ${patch.body ?? lesson.body},
            position = ${patch.position ?? lesson.position}, quiz = ${JSON.stringify(patch.quiz ?? lesson.quiz)}::jsonb, updated_at = now()
          WHERE id = ${lesson.id} RETURNING ${lessonColumns}`);
        await audit(tx, p, 'academy.lesson.updated', { type: 'academy_lesson', id: lesson.id }, { courseId: course.id });
        return lessonView(row!, true);
      });
    },

    async deleteLesson(p: Principal, id: string) {
      await platform.withTenant(ctx(p), async (tx) => {
        const { lesson, course } = await lessonOf(tx, p, id);
        assertTeaches(p, course);
        await tx.query(sql`DELETE FROM academy_lessons WHERE id = ${lesson.id}`);
        await audit(tx, p, 'academy.lesson.deleted', { type: 'academy_lesson', id: lesson.id }, { courseId: course.id });
      });
    },

    /** Enrols the caller in a published course; enrolling again changes nothing (`created: false`). */
    async enrol(p: Principal, courseId: string) {
      const learner = requireUser(p, 'An enrolment');
      return platform.withTenant(ctx(p), async (tx) => {
        const course = await courseOf(tx, p, courseId);
        if (course.status !== 'published') throw new ProblemError('conflict', 409, 'The course is not published yet.');
        const inserted = await tx.query(sql`
          INSERT INTO academy_enrolments (tenant_id, course_id, learner_id) VALUES (${p.tenantId}, ${course.id}, ${learner})
          ON CONFLICT DO NOTHING RETURNING course_id`);
        if (inserted.length > 0) await audit(tx, p, 'academy.enrolment.created', { type: 'academy_course', id: course.id });
        const [row] = await tx.query<EnrolmentRow>(enrolmentsWhere(sql`e.course_id = ${course.id} AND e.learner_id = ${learner}`));
        const enrolment = enrolmentView(row!);
        // Subscribed endpoints hear of a new enrolment (outbox: only if it commits); an enrolment again is no event.
        if (inserted.length > 0) {
          await webhooks.publishIn(tx, p.tenantId, 'academy.enrolment.created', { courseId: course.id, courseTitle: course.title, learnerId: learner, enrolledAt: enrolment.enrolledAt });
        }
        return { created: inserted.length > 0, enrolment };
      });
    },

    /** Marks a lesson done for the caller (idempotent: the first completion time stays). */
    async completeLesson(p: Principal, lessonId: string) {
      const learner = requireUser(p, 'Progress');
      return platform.withTenant(ctx(p), async (tx) => {
        const { lesson } = await lessonOf(tx, p, lessonId);
        if (!(await enrolled(tx, lesson.course_id, learner))) throw notEnrolled();
        await tx.query(sql`
          INSERT INTO academy_progress (tenant_id, course_id, lesson_id, learner_id) VALUES (${p.tenantId}, ${lesson.course_id}, ${lesson.id}, ${learner})
          ON CONFLICT DO NOTHING`);
        const [row] = await tx.query<{ completed_at: Date }>(sql`SELECT completed_at FROM academy_progress WHERE lesson_id = ${lesson.id} AND learner_id = ${learner}`);
        return { lessonId: lesson.id, courseId: lesson.course_id, completedAt: row!.completed_at.toISOString() };
      });
    },

    /** Grades an attempt on the server (the answers never reach learners) and records the result. */
    async submitQuiz(p: Principal, lessonId: string, answers: number[]) {
      const learner = requireUser(p, 'A quiz result');
      return platform.withTenant(ctx(p), async (tx) => {
        const { lesson } = await lessonOf(tx, p, lessonId);
        if (lesson.quiz.length === 0) throw new ProblemError('conflict', 409, 'This lesson has no quiz.');
        if (answers.length !== lesson.quiz.length) {
          throw new ProblemError('validation-failed', 400, `The quiz has ${lesson.quiz.length} questions; give one answer for each.`);
        }
        if (!(await enrolled(tx, lesson.course_id, learner))) throw notEnrolled();
        const score = lesson.quiz.filter((q, i) => q.answer === answers[i]).length;
        const [row] = await tx.query<QuizResultRow>(sql`
          INSERT INTO academy_quiz_results (tenant_id, course_id, lesson_id, learner_id, score, max_score, answers)
          VALUES (${p.tenantId}, ${lesson.course_id}, ${lesson.id}, ${learner}, ${score}, ${lesson.quiz.length}, ${sql.param(answers)}::int[])
          RETURNING id, lesson_id, course_id, score, max_score, submitted_at`);
        return quizResultView(row!);
      });
    },

    /** The caller's own enrolments, progress and quiz results. */
    async myProgress(p: Principal) {
      const learner = requireUser(p, 'Progress');
      return platform.withTenant(ctx(p), (tx) => progressOf(tx, learner));
    },

    /** A member's progress across the tenant's courses, for academy managers (audited: it is personal data). */
    async learnerProgress(p: Principal, userId: string) {
      return platform.withTenant(ctx(p), async (tx) => {
        if (!isUuid(userId)) throw notFound('member');
        const [member] = await tx.query(sql`SELECT 1 FROM memberships WHERE user_id = ${userId}`);
        if (!member) throw notFound('member');
        const progress = await progressOf(tx, userId.toLowerCase());
        await audit(tx, p, 'academy.learners.viewed', { type: 'user', id: userId.toLowerCase() });
        return progress;
      });
    },

    /** The learners of one course: for its instructor and academy managers; anyone else gets a 404. */
    async courseLearners(p: Principal, courseId: string) {
      return platform.withTenant(ctx(p), async (tx) => {
        const course = await courseOf(tx, p, courseId);
        if (!teaches(p, course)) throw notFound('course');
        const enrolments = await tx.query<EnrolmentRow & { email: string | null }>(sql`
          SELECT x.*, u.email FROM (${enrolmentsWhere(sql`e.course_id = ${course.id}`)}) x LEFT JOIN users u ON u.id = x.learner_id`);
        const best = await tx.query<{ learner_id: string; lesson_id: string; score: number; max_score: number }>(sql`
          SELECT DISTINCT ON (learner_id, lesson_id) learner_id, lesson_id, score, max_score FROM academy_quiz_results
          WHERE course_id = ${course.id} ORDER BY learner_id, lesson_id, score DESC`);
        await audit(tx, p, 'academy.learners.viewed', { type: 'academy_course', id: course.id }, { learners: enrolments.length });
        return {
          courseId: course.id,
          items: enrolments.map((e) => ({
            learnerId: e.learner_id, email: e.email, enrolledAt: e.enrolled_at.toISOString(),
            lessonsCompleted: Number(e.completed), lessonsTotal: Number(e.total),
            bestQuizScores: best.filter((b) => b.learner_id === e.learner_id).map((b) => ({ lessonId: b.lesson_id, score: b.score, maxScore: b.max_score })),
          })),
        };
      });
    },
  };
}

/** One learner's enrolments and quiz results, as the transaction may see them. */
export async function progressOf(tx: Session, learnerId: string) {
  const enrolments = await tx.query<EnrolmentRow>(enrolmentsWhere(sql`e.learner_id = ${learnerId}`));
  const results = await tx.query<QuizResultRow>(sql`
    SELECT id, lesson_id, course_id, score, max_score, submitted_at FROM academy_quiz_results
    WHERE learner_id = ${learnerId} ORDER BY submitted_at, id LIMIT 1000`);
  return { learnerId, enrolments: enrolments.map(enrolmentView), quizResults: results.map(quizResultView) };
}

async function nextPosition(tx: Session, courseId: string): Promise<number> {
  const [row] = await tx.query<{ next: number }>(sql`SELECT coalesce(max(position) + 1, 0)::int AS next FROM academy_lessons WHERE course_id = ${courseId}`);
  return Math.min(row!.next, 10_000);
}

const notEnrolled = () => new ProblemError('conflict', 409, 'Enrol in the course first.');

function assertQuiz(quiz: QuizQuestion[] | undefined): void {
  for (const [i, q] of (quiz ?? []).entries()) {
    if (q.answer >= q.options.length) throw new ProblemError('validation-failed', 400, `Question ${i + 1}: the answer must be one of its ${q.options.length} options.`);
  }
}

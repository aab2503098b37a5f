import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { academyRoutes } from './routes.ts';
import { progressOf } from './service.ts';

/**
 * Academy (issue #16 §1): courses and lessons are tenant content; enrolments,
 * progress and quiz results are the learner's personal data, guarded by RLS
 * policies on the current user (migration 0061).
 */
export const academyModule = defineModule({
  name: 'academy',
  description: 'Courses, lessons, enrolments, progress and quiz results',
  api: { prefix: '/academy', plugin: academyRoutes },
  permissions: [
    { key: 'academy:learn', description: 'Browse published courses, enrol, and record and read one\'s own progress and quiz results', grantedTo: ['viewer', 'member', 'admin'] },
    { key: 'academy:teach', description: 'Create courses and lessons, change those one teaches, and see their learners\' progress', grantedTo: ['admin'] },
    { key: 'academy:manage', description: 'See and change every course, and every member\'s enrolments, progress and quiz results', grantedTo: ['admin'] },
  ],
  tables: [
    { name: 'academy_quiz_results', onTenantErasure: 'erase' },
    { name: 'academy_progress', onTenantErasure: 'erase' },
    { name: 'academy_enrolments', onTenantErasure: 'erase' },
    { name: 'academy_lessons', onTenantErasure: 'erase' },
    { name: 'academy_courses', onTenantErasure: 'erase' },
  ],
  auditEvents: [
    'academy.course.created', 'academy.course.updated', 'academy.course.deleted',
    'academy.lesson.created', 'academy.lesson.updated', 'academy.lesson.deleted',
    'academy.enrolment.created', 'academy.learners.viewed',
  ],
  // academy:manage: an enrolment names the learner, which only managers see of every course.
  webhookEvents: [
    { type: 'academy.enrolment.created', description: 'A member enrolled in a course', permission: 'academy:manage' },
  ],
  async eraseTenant(tx, tenantId) {
    const out: Record<string, number> = {};
    for (const table of ['academy_quiz_results', 'academy_progress', 'academy_enrolments', 'academy_lessons', 'academy_courses']) {
      out[table] = (await tx.query(sql`DELETE FROM ${sql.identifier(table)} WHERE tenant_id = ${tenantId} RETURNING tenant_id`)).length;
    }
    return out;
  },
  // Data-subject requests: the transaction must see the person's rows through the RLS policies of
  // 0061 — its context carries academy:manage (contextWithPermissions), or the person's own user id.
  async exportSubject(tx, subject) {
    const progress = await progressOf(tx, subject.userId);
    const completed = await tx.query<{ course_id: string; lesson_id: string; completed_at: Date }>(sql`
      SELECT course_id, lesson_id, completed_at FROM academy_progress WHERE tenant_id = ${subject.tenantId} AND learner_id = ${subject.userId} ORDER BY completed_at`);
    const answers = await tx.query<{ id: string; answers: number[] }>(sql`
      SELECT id, answers FROM academy_quiz_results WHERE tenant_id = ${subject.tenantId} AND learner_id = ${subject.userId} ORDER BY submitted_at, id`);
    const taught = await tx.query<{ id: string; title: string }>(sql`
      SELECT id, title FROM academy_courses WHERE tenant_id = ${subject.tenantId} AND instructor_id = ${subject.userId} ORDER BY created_at`);
    return {
      enrolments: progress.enrolments,
      lessonsCompleted: completed.map((c) => ({ courseId: c.course_id, lessonId: c.lesson_id, completedAt: c.completed_at.toISOString() })),
      quizResults: progress.quizResults.map((r) => ({ ...r, answers: answers.find((a) => a.id === r.id)?.answers ?? [] })),
      coursesTaught: taught,
    };
  },
  async eraseSubject(tx, subject) {
    // The learner's records go; the courses they taught stay (tenant content) without their name on them.
    const results = await tx.query(sql`DELETE FROM academy_quiz_results WHERE tenant_id = ${subject.tenantId} AND learner_id = ${subject.userId} RETURNING id`);
    const progress = await tx.query(sql`DELETE FROM academy_progress WHERE tenant_id = ${subject.tenantId} AND learner_id = ${subject.userId} RETURNING lesson_id`);
    const enrolments = await tx.query(sql`DELETE FROM academy_enrolments WHERE tenant_id = ${subject.tenantId} AND learner_id = ${subject.userId} RETURNING course_id`);
    const courses = await tx.query(sql`UPDATE academy_courses SET instructor_id = NULL, updated_at = now() WHERE tenant_id = ${subject.tenantId} AND instructor_id = ${subject.userId} RETURNING id`);
    return { academy_quiz_results: results.length, academy_progress: progress.length, academy_enrolments: enrolments.length, academy_courses: courses.length };
  },
});

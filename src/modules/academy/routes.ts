import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import * as S from './schemas.ts';
import { createAcademyService } from './service.ts';

/**
 * Academy: learners (`academy:learn`) browse published courses, enrol and record
 * their own progress; instructors (`academy:teach`) write their courses and see
 * their learners; managers (`academy:manage`) see every course and learner.
 */
export const academyRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const academy = createAcademyService(platform);
  const tags = ['academy'];
  const learn = { policy: { permission: 'academy:learn' } } as const;
  const teach = { policy: { permission: 'academy:teach' } } as const;
  const manage = { policy: { permission: 'academy:manage' } } as const;

  app.get('/courses', {
    config: { security: learn },
    schema: { tags, operationId: 'academyListCourses', summary: 'Courses the caller may see: published ones, and drafts they teach', querystring: S.ListQuery, response: { 200: S.CoursePage } },
  }, async (req) => academy.listCourses(principalOf(req), req.query));

  app.post('/courses', {
    config: { security: teach },
    schema: { tags, operationId: 'academyCreateCourse', summary: 'Create a course taught by the caller (a draft unless published)', body: S.CreateCourse, response: { 201: S.Course } },
  }, async (req, reply) => reply.code(201).send(await academy.createCourse(principalOf(req), req.body)));

  app.get('/courses/:id', {
    config: { security: learn, problems: [404] },
    schema: { tags, operationId: 'academyGetCourse', summary: 'One course with its lessons', params: S.IdParams, response: { 200: S.CourseDetail } },
  }, async (req) => academy.getCourse(principalOf(req), req.params.id));

  app.patch('/courses/:id', {
    config: { security: teach, problems: [403, 404] },
    schema: { tags, operationId: 'academyUpdateCourse', summary: 'Change a course the caller teaches (or any, for a manager)', params: S.IdParams, body: S.UpdateCourse, response: { 200: S.Course } },
  }, async (req) => academy.updateCourse(principalOf(req), req.params.id, req.body));

  app.delete('/courses/:id', {
    config: { security: teach, problems: [403, 404] },
    schema: { tags, operationId: 'academyDeleteCourse', summary: 'Delete a course with its lessons, enrolments and progress', params: S.IdParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await academy.deleteCourse(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.post('/courses/:id/lessons', {
    config: { security: teach, problems: [403, 404] },
    schema: { tags, operationId: 'academyCreateLesson', summary: 'Add a lesson (text, optional quiz) to a course the caller teaches', params: S.IdParams, body: S.CreateLesson, response: { 201: S.Lesson } },
  }, async (req, reply) => reply.code(201).send(await academy.createLesson(principalOf(req), req.params.id, req.body)));

  app.get('/courses/:id/learners', {
    config: { security: teach, problems: [404] },
    schema: { tags, operationId: 'academyListCourseLearners', summary: "A course's learners and their progress, for its instructor and managers", params: S.IdParams, response: { 200: S.LearnerList } },
  }, async (req) => academy.courseLearners(principalOf(req), req.params.id));

  app.post('/courses/:id/enrolments', {
    config: { security: learn, problems: [404, 409] },
    schema: { tags, operationId: 'academyEnrol', summary: 'Enrol the caller in a published course (again: no change)', params: S.IdParams, response: { 200: S.Enrolment, 201: S.Enrolment } },
  }, async (req, reply) => {
    const { created, enrolment } = await academy.enrol(principalOf(req), req.params.id);
    return reply.code(created ? 201 : 200).send(enrolment);
  });

  app.get('/lessons/:id', {
    config: { security: learn, problems: [404] },
    schema: { tags, operationId: 'academyGetLesson', summary: 'One lesson; quiz answers only for its instructor and managers', params: S.IdParams, response: { 200: S.Lesson } },
  }, async (req) => academy.getLesson(principalOf(req), req.params.id));

  app.patch('/lessons/:id', {
    config: { security: teach, problems: [403, 404] },
    schema: { tags, operationId: 'academyUpdateLesson', summary: 'Change a lesson of a course the caller teaches', params: S.IdParams, body: S.UpdateLesson, response: { 200: S.Lesson } },
  }, async (req) => academy.updateLesson(principalOf(req), req.params.id, req.body));

  app.delete('/lessons/:id', {
    config: { security: teach, problems: [403, 404] },
    schema: { tags, operationId: 'academyDeleteLesson', summary: 'Delete a lesson of a course the caller teaches', params: S.IdParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await academy.deleteLesson(principalOf(req), req.params.id);
    return reply.code(204).send(null);
  });

  app.put('/lessons/:id/completion', {
    config: { security: learn, problems: [404, 409] },
    schema: { tags, operationId: 'academyCompleteLesson', summary: 'Mark a lesson of an enrolled course done (idempotent)', params: S.IdParams, response: { 200: S.Completion } },
  }, async (req) => academy.completeLesson(principalOf(req), req.params.id));

  app.post('/lessons/:id/quiz-attempts', {
    config: { security: learn, problems: [404, 409] },
    schema: { tags, operationId: 'academySubmitQuiz', summary: "Submit answers to a lesson's quiz; graded on the server", params: S.IdParams, body: S.QuizAttempt, response: { 201: S.QuizResult } },
  }, async (req, reply) => reply.code(201).send(await academy.submitQuiz(principalOf(req), req.params.id, req.body.answers)));

  app.get('/progress', {
    config: { security: learn },
    schema: { tags, operationId: 'academyMyProgress', summary: "The caller's own enrolments, progress and quiz results", response: { 200: S.LearnerProgress } },
  }, async (req) => academy.myProgress(principalOf(req)));

  app.get('/learners/:userId/progress', {
    config: { security: manage, problems: [404] },
    schema: { tags, operationId: 'academyGetLearnerProgress', summary: "A member's enrolments, progress and quiz results (academy managers)", params: S.UserParams, response: { 200: S.LearnerProgress } },
  }, async (req) => academy.learnerProgress(principalOf(req), req.params.userId));
};

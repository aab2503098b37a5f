-- Academy (issue #16 §1): courses, lessons, enrolments, progress and quiz results.
-- Course text is tenant content, stored as text (Markdown, never rendered by the API).
-- Enrolments, progress and quiz results are personal data of the learner: besides the tenant
-- wall, a RESTRICTIVE policy admits a row only to the learner (app.user_id), to the instructor of
-- its course when they hold academy:teach, and to holders of academy:manage (app.permissions,
-- migration 0060) — so a query that forgets its filter still returns nobody else's progress.
-- Draft courses and their lessons are visible only to their instructor and academy:manage holders.

CREATE TABLE academy_courses (
  tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  summary       text NOT NULL DEFAULT '' CHECK (length(summary) <= 2000),
  status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
  -- The teaching member; NULL once they are erased (a data-subject erasure) or leave the platform.
  instructor_id uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX academy_courses_page_idx ON academy_courses (tenant_id, created_at DESC, id DESC);
CREATE INDEX academy_courses_instructor_idx ON academy_courses (tenant_id, instructor_id);

CREATE TABLE academy_lessons (
  tenant_id  uuid NOT NULL,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  course_id  uuid NOT NULL,
  position   integer NOT NULL CHECK (position BETWEEN 0 AND 10000),
  title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  body       text NOT NULL DEFAULT '' CHECK (length(body) <= 100000),
  -- [{question, options[], answer}]: the answers never leave to learners (the service strips them).
  quiz       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(quiz) = 'array' AND jsonb_array_length(quiz) <= 50),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, course_id) REFERENCES academy_courses (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX academy_lessons_course_idx ON academy_lessons (tenant_id, course_id, position);

CREATE TABLE academy_enrolments (
  tenant_id   uuid NOT NULL,
  course_id   uuid NOT NULL,
  learner_id  uuid NOT NULL,
  enrolled_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, course_id, learner_id),
  FOREIGN KEY (tenant_id, course_id) REFERENCES academy_courses (tenant_id, id) ON DELETE CASCADE,
  -- A member who leaves the tenant takes their enrolments (and through them their progress) along.
  FOREIGN KEY (tenant_id, learner_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX academy_enrolments_learner_idx ON academy_enrolments (tenant_id, learner_id);

CREATE TABLE academy_progress (
  tenant_id    uuid NOT NULL,
  course_id    uuid NOT NULL,
  lesson_id    uuid NOT NULL,
  learner_id   uuid NOT NULL,
  completed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, lesson_id, learner_id),
  FOREIGN KEY (tenant_id, course_id, learner_id) REFERENCES academy_enrolments (tenant_id, course_id, learner_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, lesson_id) REFERENCES academy_lessons (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX academy_progress_learner_idx ON academy_progress (tenant_id, course_id, learner_id);

CREATE TABLE academy_quiz_results (
  tenant_id    uuid NOT NULL,
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  course_id    uuid NOT NULL,
  lesson_id    uuid NOT NULL,
  learner_id   uuid NOT NULL,
  score        integer NOT NULL CHECK (score >= 0),
  max_score    integer NOT NULL CHECK (max_score >= score),
  answers      integer[] NOT NULL CHECK (cardinality(answers) <= 50),
  submitted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, course_id, learner_id) REFERENCES academy_enrolments (tenant_id, course_id, learner_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, lesson_id) REFERENCES academy_lessons (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX academy_quiz_results_learner_idx ON academy_quiz_results (tenant_id, course_id, learner_id, submitted_at DESC);

SELECT ocsuite_enable_tenant_rls('academy_courses');
SELECT ocsuite_enable_tenant_rls('academy_lessons');
SELECT ocsuite_enable_tenant_rls('academy_enrolments');
SELECT ocsuite_enable_tenant_rls('academy_progress');
SELECT ocsuite_enable_tenant_rls('academy_quiz_results');
SELECT ocsuite_enable_tenant_erasure('academy_courses');
SELECT ocsuite_enable_tenant_erasure('academy_lessons');
SELECT ocsuite_enable_tenant_erasure('academy_enrolments');
SELECT ocsuite_enable_tenant_erasure('academy_progress');
SELECT ocsuite_enable_tenant_erasure('academy_quiz_results');

-- Courses: a published course is readable by every member; a draft by its instructor and managers.
-- Only the instructor (holding academy:teach) or a manager writes one.
CREATE POLICY academy_courses_visible ON academy_courses AS RESTRICTIVE FOR SELECT TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    status = 'published' OR instructor_id = (SELECT ocsuite_current_user()) OR (SELECT ocsuite_holds('academy:manage'))));
CREATE POLICY academy_courses_insert ON academy_courses AS RESTRICTIVE FOR INSERT TO ocsuite_runtime
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    (instructor_id = (SELECT ocsuite_current_user()) AND (SELECT ocsuite_holds('academy:teach'))) OR (SELECT ocsuite_holds('academy:manage'))));
CREATE POLICY academy_courses_update ON academy_courses AS RESTRICTIVE FOR UPDATE TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    (instructor_id = (SELECT ocsuite_current_user()) AND (SELECT ocsuite_holds('academy:teach'))) OR (SELECT ocsuite_holds('academy:manage'))))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    (instructor_id = (SELECT ocsuite_current_user()) AND (SELECT ocsuite_holds('academy:teach'))) OR (SELECT ocsuite_holds('academy:manage'))));
CREATE POLICY academy_courses_delete ON academy_courses AS RESTRICTIVE FOR DELETE TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    (instructor_id = (SELECT ocsuite_current_user()) AND (SELECT ocsuite_holds('academy:teach'))) OR (SELECT ocsuite_holds('academy:manage'))));

-- Lessons follow their course: the course subquery is itself filtered by the course policies above.
CREATE POLICY academy_lessons_visible ON academy_lessons AS RESTRICTIVE FOR SELECT TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND EXISTS (
    SELECT 1 FROM academy_courses c WHERE c.tenant_id = academy_lessons.tenant_id AND c.id = academy_lessons.course_id));
CREATE POLICY academy_lessons_insert ON academy_lessons AS RESTRICTIVE FOR INSERT TO ocsuite_runtime
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND EXISTS (
    SELECT 1 FROM academy_courses c WHERE c.tenant_id = academy_lessons.tenant_id AND c.id = academy_lessons.course_id
      AND ((c.instructor_id = (SELECT ocsuite_current_user()) AND (SELECT ocsuite_holds('academy:teach'))) OR (SELECT ocsuite_holds('academy:manage')))));
CREATE POLICY academy_lessons_update ON academy_lessons AS RESTRICTIVE FOR UPDATE TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND EXISTS (
    SELECT 1 FROM academy_courses c WHERE c.tenant_id = academy_lessons.tenant_id AND c.id = academy_lessons.course_id
      AND ((c.instructor_id = (SELECT ocsuite_current_user()) AND (SELECT ocsuite_holds('academy:teach'))) OR (SELECT ocsuite_holds('academy:manage')))))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND EXISTS (
    SELECT 1 FROM academy_courses c WHERE c.tenant_id = academy_lessons.tenant_id AND c.id = academy_lessons.course_id
      AND ((c.instructor_id = (SELECT ocsuite_current_user()) AND (SELECT ocsuite_holds('academy:teach'))) OR (SELECT ocsuite_holds('academy:manage')))));
CREATE POLICY academy_lessons_delete ON academy_lessons AS RESTRICTIVE FOR DELETE TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND EXISTS (
    SELECT 1 FROM academy_courses c WHERE c.tenant_id = academy_lessons.tenant_id AND c.id = academy_lessons.course_id
      AND ((c.instructor_id = (SELECT ocsuite_current_user()) AND (SELECT ocsuite_holds('academy:teach'))) OR (SELECT ocsuite_holds('academy:manage')))));

-- The learner's own rows; the course's instructor (holding academy:teach); academy:manage holders.
CREATE POLICY academy_enrolments_learner ON academy_enrolments AS RESTRICTIVE FOR ALL TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    learner_id = (SELECT ocsuite_current_user()) OR (SELECT ocsuite_holds('academy:manage'))
    OR ((SELECT ocsuite_holds('academy:teach')) AND EXISTS (SELECT 1 FROM academy_courses c
      WHERE c.tenant_id = academy_enrolments.tenant_id AND c.id = academy_enrolments.course_id AND c.instructor_id = (SELECT ocsuite_current_user())))))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    learner_id = (SELECT ocsuite_current_user()) OR (SELECT ocsuite_holds('academy:manage'))));
CREATE POLICY academy_progress_learner ON academy_progress AS RESTRICTIVE FOR ALL TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    learner_id = (SELECT ocsuite_current_user()) OR (SELECT ocsuite_holds('academy:manage'))
    OR ((SELECT ocsuite_holds('academy:teach')) AND EXISTS (SELECT 1 FROM academy_courses c
      WHERE c.tenant_id = academy_progress.tenant_id AND c.id = academy_progress.course_id AND c.instructor_id = (SELECT ocsuite_current_user())))))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND learner_id = (SELECT ocsuite_current_user()));
CREATE POLICY academy_quiz_results_learner ON academy_quiz_results AS RESTRICTIVE FOR ALL TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    learner_id = (SELECT ocsuite_current_user()) OR (SELECT ocsuite_holds('academy:manage'))
    OR ((SELECT ocsuite_holds('academy:teach')) AND EXISTS (SELECT 1 FROM academy_courses c
      WHERE c.tenant_id = academy_quiz_results.tenant_id AND c.id = academy_quiz_results.course_id AND c.instructor_id = (SELECT ocsuite_current_user())))))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND learner_id = (SELECT ocsuite_current_user()));

-- Results are a record of what was answered: learners add them, nobody edits them.
GRANT SELECT, INSERT, UPDATE (title, summary, status, instructor_id, updated_at), DELETE ON academy_courses TO ocsuite_runtime;
GRANT SELECT, INSERT, UPDATE (position, title, body, quiz, updated_at), DELETE ON academy_lessons TO ocsuite_runtime;
GRANT SELECT, INSERT, DELETE ON academy_enrolments TO ocsuite_runtime;
GRANT SELECT, INSERT, DELETE ON academy_progress TO ocsuite_runtime;
GRANT SELECT, INSERT, DELETE ON academy_quiz_results TO ocsuite_runtime;

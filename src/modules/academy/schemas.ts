import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;
const Id = Type.String({ format: 'uuid' });
const Timestamp = Type.String({ format: 'date-time' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const IdParams = Type.Object({ id: Id }, strict);
export const UserParams = Type.Object({ userId: Id }, strict);

export const CourseStatus = Type.Union([Type.Literal('draft'), Type.Literal('published')]);

/** Course and lesson text is tenant content, stored and returned as text (Markdown a client may render, sanitised). */
export const CreateCourse = Type.Object({
  title: Type.String({ minLength: 1, maxLength: 200 }),
  summary: Type.Optional(Type.String({ maxLength: 2000 })),
  status: Type.Optional(CourseStatus),
}, strict);
export const UpdateCourse = Type.Object({
  title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  summary: Type.Optional(Type.String({ maxLength: 2000 })),
  status: Type.Optional(CourseStatus),
}, { ...strict, minProperties: 1 });

const QuizQuestion = Type.Object({
  question: Type.String({ minLength: 1, maxLength: 1000 }),
  options: Type.Array(Type.String({ minLength: 1, maxLength: 500 }), { minItems: 2, maxItems: 10 }),
  /** Index of the right option; only instructors and managers ever read it back. */
  answer: Type.Integer({ minimum: 0, maximum: 9 }),
}, strict);
const Quiz = Type.Array(QuizQuestion, { maxItems: 50 });

export const CreateLesson = Type.Object({
  title: Type.String({ minLength: 1, maxLength: 200 }),
  body: Type.Optional(Type.String({ maxLength: 100_000 })),
  position: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  quiz: Type.Optional(Quiz),
}, strict);
export const UpdateLesson = Type.Object({
  title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  body: Type.Optional(Type.String({ maxLength: 100_000 })),
  position: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  quiz: Type.Optional(Quiz),
}, { ...strict, minProperties: 1 });

export const QuizAttempt = Type.Object({
  answers: Type.Array(Type.Integer({ minimum: 0, maximum: 9 }), { maxItems: 50 }),
}, strict);

export const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
}, strict);

export const LessonRef = Type.Object({ id: Type.String(), position: Type.Integer(), title: Type.String() });
export const Course = Type.Object({
  id: Type.String(),
  title: Type.String(),
  summary: Type.String(),
  status: CourseStatus,
  instructorId: Nullable(Type.String()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export const CourseDetail = Type.Object({ ...Course.properties, lessons: Type.Array(LessonRef) });
export const CoursePage = Type.Object({ items: Type.Array(Course), nextCursor: Nullable(Type.String()) });

export const Lesson = Type.Object({
  id: Type.String(),
  courseId: Type.String(),
  position: Type.Integer(),
  title: Type.String(),
  body: Type.String(),
  /** For learners without the answers. */
  quiz: Type.Array(Type.Object({
    question: Type.String(),
    options: Type.Array(Type.String()),
    answer: Type.Optional(Type.Integer()),
  })),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const Enrolment = Type.Object({
  courseId: Type.String(),
  courseTitle: Type.String(),
  learnerId: Type.String(),
  enrolledAt: Timestamp,
  lessonsCompleted: Type.Integer(),
  lessonsTotal: Type.Integer(),
});
export const EnrolmentList = Type.Object({ items: Type.Array(Enrolment) });

export const Completion = Type.Object({ lessonId: Type.String(), courseId: Type.String(), completedAt: Timestamp });
export const QuizResult = Type.Object({
  id: Type.String(),
  lessonId: Type.String(),
  courseId: Type.String(),
  score: Type.Integer(),
  maxScore: Type.Integer(),
  submittedAt: Timestamp,
});

export const Learner = Type.Object({
  learnerId: Type.String(),
  email: Nullable(Type.String()),
  enrolledAt: Timestamp,
  lessonsCompleted: Type.Integer(),
  lessonsTotal: Type.Integer(),
  bestQuizScores: Type.Array(Type.Object({ lessonId: Type.String(), score: Type.Integer(), maxScore: Type.Integer() })),
});
export const LearnerList = Type.Object({ courseId: Type.String(), items: Type.Array(Learner) });

export const LearnerProgress = Type.Object({
  learnerId: Type.String(),
  enrolments: Type.Array(Enrolment),
  quizResults: Type.Array(QuizResult),
});

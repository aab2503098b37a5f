import { Type } from '@fastify/type-provider-typebox';
import { TASK_ACTIONS, TASK_STATUSES } from './capabilities.ts';

const strict = { additionalProperties: false } as const;
/** One of a list of strings, typed as their union. */
const OneOf = <T extends string>(values: readonly T[]) => Type.Unsafe<T>({ type: 'string', enum: [...values] });
const Uuid = Type.String({ format: 'uuid' });
const Title = Type.String({ minLength: 1, maxLength: 200 });
const Description = Type.String({ maxLength: 10_000 });
const Note = Type.String({ minLength: 1, maxLength: 2000 });
const DateTime = Type.String({ format: 'date-time' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const TaskParams = Type.Object({ id: Uuid }, strict);

export const CreateTask = Type.Object({
  title: Title,
  description: Type.Optional(Description),
  /** A member of the caller's tenant who may work on tasks (`tasks:work`). */
  assigneeId: Uuid,
  dueAt: Type.Optional(DateTime),
}, strict);

export const UpdateTask = Type.Object({
  title: Type.Optional(Title),
  description: Type.Optional(Description),
  assigneeId: Type.Optional(Uuid),
  dueAt: Type.Optional(Nullable(DateTime)),
}, { ...strict, minProperties: 1 });

export const CompleteTask = Type.Object({ note: Type.Optional(Note) }, strict);
export const RejectTask = Type.Object({ reason: Note }, strict);

export const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
  status: Type.Optional(OneOf(TASK_STATUSES)),
  /** `me`: only tasks assigned to the caller. */
  assignee: Type.Optional(Type.Literal('me')),
}, strict);

const Capability = OneOf(TASK_ACTIONS);

export const Task = Type.Object({
  id: Type.String(),
  title: Type.String(),
  description: Type.String(),
  status: OneOf(TASK_STATUSES),
  assigneeId: Nullable(Type.String()),
  dueAt: Nullable(DateTime),
  createdBy: Nullable(Type.String()),
  completedBy: Nullable(Type.String()),
  completedAt: Nullable(DateTime),
  completionNote: Nullable(Type.String()),
  verifiedBy: Nullable(Type.String()),
  verifiedAt: Nullable(DateTime),
  rejectedBy: Nullable(Type.String()),
  rejectedAt: Nullable(DateTime),
  rejectionReason: Nullable(Type.String()),
  cancelledAt: Nullable(DateTime),
  createdAt: DateTime,
  updatedAt: DateTime,
  /** What the caller may do with this task now: the API refuses everything else. */
  capabilities: Type.Array(Capability),
});

export const TaskPage = Type.Object({
  items: Type.Array(Task),
  nextCursor: Nullable(Type.String()),
  /** What the caller may do with the collection (`create`). */
  capabilities: Type.Array(Type.Literal('create')),
});

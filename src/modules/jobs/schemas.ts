import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;
const Status = Type.Union([Type.Literal('dead'), Type.Literal('retrying'), Type.Literal('retried'), Type.Literal('discarded')]);
const QueueName = Type.String({ minLength: 1, maxLength: 100, pattern: '^[a-z][a-z0-9._-]*$' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const Cursor = Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' }));
/** Pages are newest first; `nextCursor` is null on the last one. */
const NextCursor = Type.Union([Type.String(), Type.Null()]);

export const DeadLetterParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);

export const ListQuery = Type.Object(
  {
    status: Type.Optional(Status),
    queue: Type.Optional(QueueName),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    /** The `nextCursor` of the previous page. */
    cursor: Cursor,
  },
  strict,
);

export const OperatorListQuery = Type.Object(
  {
    status: Type.Optional(Status),
    queue: Type.Optional(QueueName),
    tenant: Type.Optional(Type.String({ format: 'uuid' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Cursor,
  },
  strict,
);

const common = {
  id: Type.String(),
  queue: Type.String(),
  jobId: Type.String(),
  /** The job's data as it was enqueued (tenant data of the caller's own tenant). */
  payload: Type.Unknown(),
  error: Type.String(),
  attempts: Type.Integer(),
  retryable: Type.Boolean(),
  status: Status,
  failedAt: Type.String({ format: 'date-time' }),
  resolvedAt: Nullable(Type.String({ format: 'date-time' })),
  resolvedBy: Nullable(Type.String()),
  retriedJobId: Nullable(Type.String()),
};

/** What a tenant admin sees: never a tenant id (it is their own). */
export const DeadLetter = Type.Object(common);
export const DeadLetterList = Type.Object({ items: Type.Array(DeadLetter), nextCursor: NextCursor });

/** What a platform operator sees: the tenant, or for platform rows the tenant a refused job claimed. */
export const OperatorDeadLetter = Type.Object({ ...common, tenantId: Nullable(Type.String()), claimedTenantId: Nullable(Type.String()) });
export const OperatorDeadLetterList = Type.Object({ items: Type.Array(OperatorDeadLetter), nextCursor: NextCursor });

export const Retried = Type.Object({ id: Type.String(), status: Type.Literal('retried'), jobId: Type.String() });

export const QueueOverview = Type.Object({
  driver: Type.String(),
  queues: Type.Array(Type.Object({
    name: Type.String(),
    scope: Type.String(),
    maxDepth: Type.Union([Type.Integer(), Type.Null()]),
    waiting: Type.Integer(),
    active: Type.Integer(),
    completed: Type.Integer(),
    failed: Type.Integer(),
    oldestWaitingSeconds: Type.Number(),
  })),
});

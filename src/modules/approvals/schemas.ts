import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Status = Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('rejected'), Type.Literal('expired')]);

export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);

export const Approval = Type.Object({
  id: Type.String(),
  actionType: Type.String(),
  payload: Type.Unknown(),
  summary: Type.String(),
  risk: Type.String(),
  origin: Type.String(),
  insightId: Nullable(Type.String()),
  status: Type.String(),
  requestedBy: Nullable(Type.String()),
  decidedBy: Nullable(Type.String()),
  decidedAt: Nullable(Type.String({ format: 'date-time' })),
  decisionNote: Nullable(Type.String()),
  executedAt: Nullable(Type.String({ format: 'date-time' })),
  executionOutcome: Nullable(Type.String()),
  executionResult: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  expiresAt: Type.String({ format: 'date-time' }),
  createdAt: Type.String({ format: 'date-time' }),
});
export const ApprovalPage = Type.Object({ items: Type.Array(Approval), nextCursor: Nullable(Type.String()) });
export const ApprovalListQuery = Type.Object({
  status: Type.Optional(Status),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
}, strict);
export const RequestApproval = Type.Object({
  actionType: Type.String({ minLength: 3, maxLength: 100, pattern: '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*){1,3}$' }),
  // Checked against the action's own schema by the registry.
  payload: Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 50 }),
}, strict);
export const Decision = Type.Object({ note: Type.Optional(Type.String({ maxLength: 500 })) }, strict);

export const ActionList = Type.Object({
  items: Type.Array(Type.Object({ type: Type.String(), description: Type.String(), permission: Type.String() })),
});

export const CreateInsight = Type.Object({
  question: Type.String({ minLength: 1, maxLength: 4000 }),
  knowledgeEntryIds: Type.Optional(Type.Array(Type.String({ format: 'uuid' }), { maxItems: 10, uniqueItems: true })),
  providerId: Type.Optional(Type.String({ format: 'uuid' })),
}, strict);
export const Insight = Type.Object({
  id: Type.String(),
  text: Type.String(),
  proposals: Type.Array(Approval),
  discarded: Type.Integer(),
  usage: Type.Object({ promptTokens: Type.Integer(), completionTokens: Type.Integer() }),
});
export const InsightSummary = Type.Object({
  id: Type.String(),
  providerId: Nullable(Type.String()),
  text: Nullable(Type.String()),
  proposals: Type.Integer(),
  createdBy: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
});
export const InsightPage = Type.Object({ items: Type.Array(InsightSummary), nextCursor: Nullable(Type.String()) });
export const InsightListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
}, strict);

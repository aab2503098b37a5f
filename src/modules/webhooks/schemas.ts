import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;
const Id = Type.String({ format: 'uuid' });
const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);
const Cursor = Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' });
const Limit = Type.Integer({ minimum: 1, maximum: 100, default: 50 });

/** A catalogued event type, e.g. `webhooks.test` (outbound subscriptions name these exactly). */
export const EventTypeName = Type.String({ minLength: 3, maxLength: 100, pattern: '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*){1,4}$' });
/** What a receiver accepts from its sender: an exact type, `prefix.*`, or `*`. */
export const InboundTypePattern = Type.String({ minLength: 1, maxLength: 100, pattern: '^(\\*|[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+){0,5}(\\.\\*)?)$' });
/** https (http only for hosts an operator allows); checked again, with DNS, by the egress guard. */
const Url = Type.String({ minLength: 8, maxLength: 2048, pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$' });
const Description = Type.String({ maxLength: 500 });
/** Seconds the previous secret keeps signing (outbound) or verifying (inbound) after a rotation. */
const Overlap = Type.Integer({ minimum: 0, maximum: 604_800, default: 86_400 });

export const IdParams = Type.Object({ id: Id }, strict);

// ── event types ──
export const EventType = Type.Object({
  type: Type.String(),
  description: Type.String(),
  permission: Type.String(),
  /** Whether the caller holds the permission, i.e. may subscribe an endpoint to it. */
  subscribable: Type.Boolean(),
}, strict);
export const EventTypeList = Type.Object({ items: Type.Array(EventType) }, strict);

// ── endpoints ──
export const CreateEndpoint = Type.Object({
  url: Url,
  description: Type.Optional(Description),
  eventTypes: Type.Array(EventTypeName, { minItems: 1, maxItems: 100, uniqueItems: true }),
}, strict);
export const UpdateEndpoint = Type.Object({
  description: Type.Optional(Description),
  url: Type.Optional(Url),
  eventTypes: Type.Optional(Type.Array(EventTypeName, { minItems: 1, maxItems: 100, uniqueItems: true })),
  /** false disables; true re-enables a disabled endpoint and clears its failure count. */
  enabled: Type.Optional(Type.Boolean()),
}, { ...strict, minProperties: 1 });
export const RotateSecret = Type.Object({ overlapSeconds: Type.Optional(Overlap) }, strict);

const endpointFields = {
  id: Type.String(),
  url: Type.String(),
  description: Type.String(),
  eventTypes: Type.Array(Type.String()),
  status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]),
  disabledReason: Type.Union([Type.String(), Type.Null()]),
  secretFingerprint: Type.String(),
  /** While set and in the future, deliveries carry a second signature under the previous secret. */
  previousSecretExpiresAt: NullableTime,
  consecutiveFailures: Type.Integer(),
  lastSuccessAt: NullableTime,
  lastFailureAt: NullableTime,
  createdAt: Time,
  updatedAt: Time,
};
export const Endpoint = Type.Object(endpointFields, strict);
/** Only the creation and rotation answers carry the secret: it is shown once. */
export const EndpointWithSecret = Type.Object({ ...endpointFields, secret: Type.String() }, strict);
export const EndpointList = Type.Object({ items: Type.Array(Endpoint), nextCursor: Type.Union([Type.String(), Type.Null()]) }, strict);
export const ListQuery = Type.Object({ limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) }, strict);

// ── messages ──
export const Message = Type.Object({
  id: Type.String(),
  /** The webhook-id header every delivery of this message carries. */
  webhookId: Type.String(),
  eventType: Type.String(),
  payload: Type.Unknown(),
  createdAt: Time,
}, strict);
export const MessageList = Type.Object({ items: Type.Array(Message), nextCursor: Type.Union([Type.String(), Type.Null()]) }, strict);
export const MessageListQuery = Type.Object({
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Cursor),
  eventType: Type.Optional(EventTypeName),
}, strict);
export const ReplayOne = Type.Object({ endpointId: Type.Optional(Id) }, strict);
export const ReplaySince = Type.Object({ since: Time, endpointId: Type.Optional(Id) }, strict);
export const Replayed = Type.Object({ deliveries: Type.Integer() }, strict);
export const TestSent = Type.Object({ messageId: Type.String(), deliveryId: Type.String() }, strict);

// ── deliveries ──
export const Attempt = Type.Object({
  attempt: Type.Integer(),
  startedAt: Time,
  latencyMs: Type.Integer(),
  responseStatus: Type.Union([Type.Integer(), Type.Null()]),
  /** The first KiB of the answer, with anything resembling our secret or signature removed. */
  responseBody: Type.String(),
  /** Why no response was received: refused by the egress guard, timeout, connect … */
  error: Type.Union([Type.String(), Type.Null()]),
}, strict);
const deliveryFields = {
  id: Type.String(),
  messageId: Type.String(),
  endpointId: Type.String(),
  eventType: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('dead')]),
  attempts: Type.Integer(),
  nextAttemptAt: NullableTime,
  lastStatus: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Time,
  updatedAt: Time,
};
export const Delivery = Type.Object(deliveryFields, strict);
export const DeliveryDetail = Type.Object({ ...deliveryFields, attemptLog: Type.Array(Attempt) }, strict);
export const DeliveryList = Type.Object({ items: Type.Array(Delivery), nextCursor: Type.Union([Type.String(), Type.Null()]) }, strict);
export const DeliveryListQuery = Type.Object({
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Cursor),
  endpointId: Type.Optional(Id),
  messageId: Type.Optional(Id),
  status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('dead')])),
}, strict);

// ── inbound receivers ──
const Scheme = Type.Union([Type.Literal('standard-webhooks'), Type.Literal('hmac-sha256')]);
const Cidr = Type.String({ minLength: 3, maxLength: 50, pattern: '^[0-9A-Fa-f:.]+/[0-9]{1,3}$' });
export const CreateReceiver = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  scheme: Type.Optional(Scheme),
  allowedCidrs: Type.Optional(Type.Array(Cidr, { maxItems: 50, uniqueItems: true })),
  maxBodyBytes: Type.Optional(Type.Integer({ minimum: 64, maximum: 1_048_576 })),
  eventTypes: Type.Array(InboundTypePattern, { minItems: 1, maxItems: 100, uniqueItems: true }),
}, strict);
export const UpdateReceiver = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  allowedCidrs: Type.Optional(Type.Array(Cidr, { maxItems: 50, uniqueItems: true })),
  maxBodyBytes: Type.Optional(Type.Integer({ minimum: 64, maximum: 1_048_576 })),
  eventTypes: Type.Optional(Type.Array(InboundTypePattern, { minItems: 1, maxItems: 100, uniqueItems: true })),
  enabled: Type.Optional(Type.Boolean()),
}, { ...strict, minProperties: 1 });
const receiverFields = {
  id: Type.String(),
  name: Type.String(),
  scheme: Scheme,
  /** Where the sender posts: `<PUBLIC_URL>/hooks/<id>`. */
  url: Type.String(),
  allowedCidrs: Type.Array(Type.String()),
  maxBodyBytes: Type.Integer(),
  eventTypes: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  secretFingerprint: Type.String(),
  previousSecretExpiresAt: NullableTime,
  refusedCount: Type.Integer(),
  lastRefusedAt: NullableTime,
  createdAt: Time,
  updatedAt: Time,
};
export const Receiver = Type.Object(receiverFields, strict);
export const ReceiverWithSecret = Type.Object({ ...receiverFields, secret: Type.String() }, strict);
export const ReceiverList = Type.Object({ items: Type.Array(Receiver), nextCursor: Type.Union([Type.String(), Type.Null()]) }, strict);
export const InboundEvent = Type.Object({
  id: Type.String(),
  receiverId: Type.String(),
  webhookId: Type.String(),
  eventType: Type.String(),
  payload: Type.Unknown(),
  status: Type.Union([Type.Literal('received'), Type.Literal('dispatched')]),
  receivedAt: Time,
}, strict);
export const InboundEventList = Type.Object({ items: Type.Array(InboundEvent), nextCursor: Type.Union([Type.String(), Type.Null()]) }, strict);

// ── the public hook ──
export const HookParams = Type.Object({ endpointId: Type.String({ maxLength: 64 }) }, strict);
export const HookAccepted = Type.Object({ id: Type.String() }, strict);

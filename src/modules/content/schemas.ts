import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;
const Id = Type.String({ format: 'uuid' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const IdParams = Type.Object({ id: Id }, strict);

export const Settings = Type.Object({
  piiPolicy: Type.Union([Type.Literal('redact'), Type.Literal('refuse')]),
  storePrompts: Type.Boolean(),
  storeOutputs: Type.Boolean(),
  blockedTerms: Type.Array(Type.String()),
  requiredDisclaimer: Nullable(Type.String()),
  dailyTokenQuota: Type.Integer(),
  phoneRegion: Nullable(Type.String()),
});
export const UpdateSettings = Type.Object({
  piiPolicy: Type.Optional(Type.Union([Type.Literal('redact'), Type.Literal('refuse')])),
  storePrompts: Type.Optional(Type.Boolean()),
  storeOutputs: Type.Optional(Type.Boolean()),
  blockedTerms: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 200, uniqueItems: true })),
  requiredDisclaimer: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 1000 }), Type.Null()])),
  dailyTokenQuota: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000 })),
  phoneRegion: Type.Optional(Type.Union([Type.String({ pattern: '^[A-Z]{2}$' }), Type.Null()])),
}, { ...strict, minProperties: 1 });

export const Usage = Type.Object({ day: Type.String(), tokens: Type.Integer(), requests: Type.Integer(), dailyTokenQuota: Type.Integer() });

export const CreateProvider = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  kind: Type.Union([Type.Literal('openai-compatible'), Type.Literal('offline')]),
  baseUrl: Type.Optional(Type.String({ minLength: 8, maxLength: 500, pattern: '^[A-Za-z][A-Za-z0-9+.-]*://' })),
  model: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9._:/@-]*$' }),
  apiKey: Type.Optional(Type.String({ minLength: 8, maxLength: 4096 })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 120_000 })),
  isDefault: Type.Optional(Type.Boolean()),
}, strict);
export const Provider = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: Type.String(),
  baseUrl: Nullable(Type.String()),
  model: Type.String(),
  hasKey: Type.Boolean(),
  keyFingerprint: Nullable(Type.String()),
  keyLastFour: Nullable(Type.String()),
  timeoutMs: Type.Integer(),
  isDefault: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
});
export const ProviderList = Type.Object({ items: Type.Array(Provider) });

const DataSection = Type.Object({
  label: Type.String({ minLength: 1, maxLength: 80 }),
  text: Type.String({ minLength: 1, maxLength: 20_000 }),
}, strict);
export const CreateDraft = Type.Union([
  Type.Object({
    kind: Type.Literal('template'),
    title: Type.String({ minLength: 1, maxLength: 300 }),
    template: Type.String({ minLength: 1, maxLength: 50_000 }),
    variables: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), Type.String({ maxLength: 5000 }), { maxProperties: 100 })),
  }, strict),
  Type.Object({
    kind: Type.Literal('model'),
    title: Type.String({ minLength: 1, maxLength: 300 }),
    instructions: Type.String({ minLength: 1, maxLength: 8000 }),
    data: Type.Optional(Type.Array(DataSection, { maxItems: 10 })),
    providerId: Type.Optional(Id),
    maxTokens: Type.Optional(Type.Integer({ minimum: 16, maximum: 4000 })),
  }, strict),
]);
export const Draft = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  title: Type.String(),
  status: Type.String(),
  providerId: Nullable(Type.String()),
  text: Nullable(Type.String()),
  stored: Type.Object({ prompt: Type.Boolean(), output: Type.Boolean() }),
  usage: Type.Object({ promptTokens: Type.Integer(), completionTokens: Type.Integer() }),
  redaction: Type.Object({ secrets: Type.Optional(Type.Integer()), pii: Type.Optional(Type.Integer()), kinds: Type.Optional(Type.Record(Type.String(), Type.Integer())) }),
  createdBy: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  publishedAt: Nullable(Type.String({ format: 'date-time' })),
  publishedApproval: Nullable(Type.String()),
});
export const DraftListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
}, strict);
export const DraftPage = Type.Object({ items: Type.Array(Draft), nextCursor: Nullable(Type.String()) });

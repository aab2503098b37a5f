import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;
const Tag = Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\s,]+$' });

export const EntryParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);
export const CreateEntry = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 300 }),
    body: Type.String({ maxLength: 100_000 }),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32, uniqueItems: true })),
  },
  strict,
);
export const UpdateEntry = Type.Object(
  {
    title: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
    body: Type.Optional(Type.String({ maxLength: 100_000 })),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32, uniqueItems: true })),
  },
  { ...strict, minProperties: 1 },
);
export const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
    tag: Type.Optional(Tag),
  },
  strict,
);
export const Entry = Type.Object({
  id: Type.String(),
  title: Type.String(),
  body: Type.String(),
  tags: Type.Array(Type.String()),
  createdBy: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export const EntryPage = Type.Object({ items: Type.Array(Entry), nextCursor: Type.Union([Type.String(), Type.Null()]) });

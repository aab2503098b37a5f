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

// ─── Bulk import and export (docs/knowledge.md) ────────────────────────────────

export const ImportFile = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^/\\\\\\u0000-\\u001f]+$' }),
    mediaType: Type.String({ minLength: 1, maxLength: 100, description: 'application/jsonl (one entry a line) or text/markdown (one entry a file)' }),
    content: Type.String({ maxLength: 4_194_304 }),
  },
  strict,
);
export const ImportBody = Type.Object({ files: Type.Array(ImportFile, { minItems: 1, maxItems: 20 }) }, strict);
export const ImportResult = Type.Object({
  imported: Type.Integer(),
  ids: Type.Array(Type.String()),
  policy: Type.Union([Type.Literal('reject'), Type.Literal('redact')]),
  redactions: Type.Array(Type.Object({ file: Type.String(), entry: Type.Integer(), field: Type.String(), kind: Type.String() })),
});
export const Settings = Type.Object({ ingestPolicy: Type.Union([Type.Literal('reject'), Type.Literal('redact')]) }, strict);
export const ExportParams = EntryParams;
export const ExportStatus = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('done'), Type.Literal('failed')]),
  entries: Type.Union([Type.Integer(), Type.Null()]),
  requestedBy: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
});

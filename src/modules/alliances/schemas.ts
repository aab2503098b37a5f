import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;
const Id = Type.String({ format: 'uuid' });
const Timestamp = Type.String({ format: 'date-time' });
const Nullable = <T extends ReturnType<typeof Type.String | typeof Type.Integer>>(t: T) => Type.Union([t, Type.Null()]);

export const IdParams = Type.Object({ id: Id }, strict);
export const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
}, strict);

const Tier = Type.Union([Type.Literal('standard'), Type.Literal('silver'), Type.Literal('gold'), Type.Literal('strategic')]);
const PartnerStatus = Type.Union([Type.Literal('prospect'), Type.Literal('active'), Type.Literal('inactive')]);
const Website = Type.String({ maxLength: 500, pattern: '^https?://[^\\s]+$' });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Stage = Type.String({ minLength: 1, maxLength: 60 });
const Currency = Type.String({ pattern: '^[A-Z]{3}$' });
const Cents = Type.Integer({ minimum: 0, maximum: 9_007_199_254_740_991 });

export const CreatePartner = Type.Object({ name: Name, website: Type.Optional(Website), tier: Type.Optional(Tier), status: Type.Optional(PartnerStatus) }, strict);
export const UpdatePartner = Type.Object({
  name: Type.Optional(Name), website: Type.Optional(Nullable(Website)), tier: Type.Optional(Tier), status: Type.Optional(PartnerStatus),
}, { ...strict, minProperties: 1 });

const Email = Type.String({ format: 'email', minLength: 3, maxLength: 320 });
const Phone = Type.String({ minLength: 3, maxLength: 40, pattern: '^\\+?[0-9 ()./-]{3,40}$' });
const JobTitle = Type.String({ maxLength: 200 });
export const CreateContact = Type.Object({ name: Name, email: Type.Optional(Email), phone: Type.Optional(Phone), jobTitle: Type.Optional(JobTitle) }, strict);
export const UpdateContact = Type.Object({
  name: Type.Optional(Name), email: Type.Optional(Nullable(Email)), phone: Type.Optional(Nullable(Phone)), jobTitle: Type.Optional(Nullable(JobTitle)),
}, { ...strict, minProperties: 1 });

export const CreatePipeline = Type.Object({ name: Name, stages: Type.Array(Stage, { minItems: 1, maxItems: 20, uniqueItems: true }) }, strict);
export const CreateDeal = Type.Object({
  partnerId: Id, title: Name, stage: Type.Optional(Stage), valueCents: Type.Optional(Cents), currency: Type.Optional(Currency),
}, strict);
export const UpdateDeal = Type.Object({
  title: Type.Optional(Name), stage: Type.Optional(Stage), valueCents: Type.Optional(Nullable(Cents)), currency: Type.Optional(Nullable(Currency)),
}, { ...strict, minProperties: 1 });

export const CreateNote = Type.Object({
  body: Type.String({ minLength: 1, maxLength: 20_000 }),
  dealId: Type.Optional(Id),
  contactId: Type.Optional(Id),
}, strict);

export const Contact = Type.Object({
  id: Type.String(), partnerId: Type.String(), name: Type.String(), email: Nullable(Type.String()), phone: Nullable(Type.String()),
  jobTitle: Nullable(Type.String()), createdAt: Timestamp, updatedAt: Timestamp,
});
export const Partner = Type.Object({
  id: Type.String(), name: Type.String(), website: Nullable(Type.String()), tier: Tier, status: PartnerStatus,
  createdAt: Timestamp, updatedAt: Timestamp,
});
export const PartnerDetail = Type.Object({ ...Partner.properties, contacts: Type.Array(Contact) });
export const PartnerPage = Type.Object({ items: Type.Array(Partner), nextCursor: Nullable(Type.String()) });

export const Deal = Type.Object({
  id: Type.String(), pipelineId: Type.String(), partnerId: Type.String(), title: Type.String(), stage: Type.String(),
  valueCents: Nullable(Type.Integer()), currency: Nullable(Type.String()), ownerId: Nullable(Type.String()),
  createdAt: Timestamp, updatedAt: Timestamp,
});
export const Pipeline = Type.Object({ id: Type.String(), name: Type.String(), stages: Type.Array(Type.String()), createdAt: Timestamp });
export const PipelineDetail = Type.Object({ ...Pipeline.properties, deals: Type.Array(Deal) });
export const PipelinePage = Type.Object({ items: Type.Array(Pipeline), nextCursor: Nullable(Type.String()) });

export const Note = Type.Object({
  id: Type.String(), partnerId: Type.String(), dealId: Nullable(Type.String()), contactId: Nullable(Type.String()),
  authorId: Nullable(Type.String()), body: Type.String(), createdAt: Timestamp,
});
export const NoteList = Type.Object({ items: Type.Array(Note) });

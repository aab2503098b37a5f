import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;

/** One person: a member by user id, or anyone by address (contacts without an account too). */
export const SubjectBody = Type.Union([
  Type.Object({ userId: Type.String({ format: 'uuid' }) }, strict),
  Type.Object({ email: Type.String({ format: 'email', minLength: 3, maxLength: 320 }) }, strict),
]);

const Subject = Type.Object({
  userId: Type.Union([Type.String(), Type.Null()]),
  email: Type.Union([Type.String(), Type.Null()]),
  member: Type.Boolean(),
});

export const SubjectArchive = Type.Object({
  format: Type.Literal('ocsuite.dsar.v1'),
  tenantId: Type.String(),
  subject: Subject,
  exportedAt: Type.String({ format: 'date-time' }),
  /** What each module holds about the person, by module name (each module's own shape). */
  modules: Type.Record(Type.String(), Type.Unknown()),
});

export const ErasureReceipt = Type.Object({
  tenantId: Type.String(),
  subject: Type.Object({ userId: Type.Union([Type.String(), Type.Null()]), member: Type.Boolean() }),
  erasedAt: Type.String({ format: 'date-time' }),
  /** Rows removed or pseudonymised, by module and table. */
  modules: Type.Record(Type.String(), Type.Record(Type.String(), Type.Integer())),
  /** Whether the account itself was pseudonymised (the person belongs to no other tenant). */
  accountPseudonymised: Type.Boolean(),
});

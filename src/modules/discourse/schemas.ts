import { Type } from '@fastify/type-provider-typebox';

/** A Discourse group name (Discourse allows letters, digits, `_`, `-`, `.`; 1–60). */
const GroupName = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,60}$' });

const MappingRule = Type.Object({
  group: GroupName,
  permission: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  role: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
}, { additionalProperties: false });
const GrantRule = Type.Object({
  permission: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  role: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
}, { additionalProperties: false });

export const PutIntegration = Type.Object({
  origin: Type.String({ minLength: 8, maxLength: 300, description: 'The Discourse origin, e.g. https://forum.example.com (no path)' }),
  secret: Type.Optional(Type.String({ minLength: 32, maxLength: 200, description: 'The shared secret (discourse_connect_secret); generated when absent' })),
  groupMapping: Type.Optional(Type.Array(MappingRule, { maxItems: 100, description: 'Each rule: one Discourse group for holders of a permission or role (exactly one of the two)' })),
  admins: Type.Optional(Type.Array(GrantRule, { maxItems: 20, description: 'Who gets admin=true in Discourse; everyone else gets admin=false' })),
  moderators: Type.Optional(Type.Array(GrantRule, { maxItems: 20, description: 'Who gets moderator=true in Discourse; everyone else gets moderator=false' })),
  logoutSync: Type.Optional(Type.Union([
    Type.Object({ apiKey: Type.String({ minLength: 16, maxLength: 200 }), apiUsername: Type.String({ minLength: 1, maxLength: 60 }) }, { additionalProperties: false }),
    Type.Null(),
  ], { description: 'A Discourse admin API key and its username for logging people out there; null removes it; absent keeps it' })),
}, { additionalProperties: false });

export const Integration = Type.Object({
  configured: Type.Literal(true),
  origin: Type.String(),
  connectUrl: Type.String({ description: 'What to set as discourse_connect_url' }),
  secretFingerprint: Type.String(),
  groupMapping: Type.Array(MappingRule),
  admins: Type.Array(GrantRule),
  moderators: Type.Array(GrantRule),
  logoutSync: Type.Union([Type.Object({ apiUsername: Type.String() }), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const PutAnswer = Type.Intersect([Integration, Type.Object({
  secret: Type.Optional(Type.String({ description: 'The shared secret; returned by this answer only, when it was generated or replaced' })),
})]);

export const SsoBody = Type.Object({
  sso: Type.String({ minLength: 1, maxLength: 4096 }),
  sig: Type.String({ minLength: 1, maxLength: 128 }),
}, { additionalProperties: false });

export const SsoRedirect = Type.Object({ redirectUrl: Type.String() });

export const TenantParams = Type.Object({ tenantId: Type.String({ minLength: 1, maxLength: 64 }) });
export const SsoQuery = Type.Object({
  sso: Type.Optional(Type.String({ maxLength: 4096 })),
  sig: Type.Optional(Type.String({ maxLength: 128 })),
});

/** GET before any PUT: a list-like read that answers, rather than a 404 for a singleton that is not there yet. */
export const IntegrationState = Type.Union([Integration, Type.Object({ configured: Type.Literal(false) })]);

import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Email = Type.String({ format: 'email', minLength: 3, maxLength: 320 });
const Timestamp = Type.String({ format: 'date-time' });
const Cursor = Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' });
const Limit = Type.Integer({ minimum: 1, maximum: 100, default: 20 });

export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);
export const PageQuery = Type.Object({ limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) }, strict);

// ─── Contacts ───────────────────────────────────────────────────────────────
export const LAWFUL_BASES = ['consent', 'contract', 'legitimate_interest'] as const;
const LawfulBasis = Type.Union(LAWFUL_BASES.map((b) => Type.Literal(b)), { description: 'GDPR Art. 6(1)(a), (b) or (f)' });

export const CreateContact = Type.Object({
  email: Email,
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  source: Type.String({ minLength: 1, maxLength: 200, description: 'where the address came from, e.g. "signup-form", "import:crm-2026-11"' }),
  lawfulBasis: LawfulBasis,
  consentText: Type.Optional(Type.String({ minLength: 1, maxLength: 2000, description: 'the wording the person agreed to (required with lawfulBasis consent)' })),
  consentAt: Type.Optional(Type.String({ format: 'date-time', description: 'when consent was given (default: now)' })),
}, strict);

export const UpdateContact = Type.Object({
  name: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
}, { ...strict, minProperties: 1 });

export const ContactQuery = Type.Object({
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Cursor),
  status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('subscribed'), Type.Literal('unsubscribed')])),
}, strict);

export const Contact = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Nullable(Type.String()),
  source: Type.String(),
  lawfulBasis: Type.String(),
  consentText: Nullable(Type.String()),
  consentAt: Nullable(Timestamp),
  status: Type.String({ description: 'pending (awaiting double opt-in), subscribed, unsubscribed' }),
  suppressed: Type.Boolean(),
  confirmationSentAt: Nullable(Timestamp),
  confirmedAt: Nullable(Timestamp),
  unsubscribedAt: Nullable(Timestamp),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export const ContactPage = Type.Object({ items: Type.Array(Contact), nextCursor: Nullable(Type.String()) });

// ─── Suppressions ───────────────────────────────────────────────────────────
export const SUPPRESSION_REASONS = ['unsubscribed', 'bounced', 'complained', 'manual'] as const;

export const CreateSuppression = Type.Object({
  email: Email,
  reason: Type.Union(SUPPRESSION_REASONS.map((r) => Type.Literal(r))),
  note: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
}, strict);

export const Suppression = Type.Object({
  id: Type.String(),
  /** null once the contact was erased: the entry keeps only the keyed hash. */
  email: Nullable(Type.String()),
  addressHash: Type.String(),
  reason: Type.String({ description: 'unsubscribed, bounced, complained, manual, erased' }),
  source: Type.String(),
  note: Nullable(Type.String()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export const SuppressionPage = Type.Object({ items: Type.Array(Suppression), nextCursor: Nullable(Type.String()) });

// ─── Settings ───────────────────────────────────────────────────────────────
export const UpdateSettings = Type.Object({
  postalAddress: Type.Optional(Nullable(Type.String({ minLength: 5, maxLength: 500 }))),
  doubleOptIn: Type.Optional(Type.Boolean()),
  ratePerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  fromAddress: Type.Optional(Nullable(Email)),
  smtpConnectorId: Type.Optional(Nullable(Type.String({ format: 'uuid' }))),
}, { ...strict, minProperties: 1 });

export const Settings = Type.Object({
  postalAddress: Nullable(Type.String()),
  doubleOptIn: Type.Boolean(),
  ratePerMinute: Type.Integer(),
  fromAddress: Nullable(Type.String()),
  smtpConnectorId: Nullable(Type.String()),
  updatedAt: Nullable(Timestamp),
});

// ─── Campaigns and sends ────────────────────────────────────────────────────
const ContactIds = Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: 10_000, uniqueItems: true, description: 'exactly these contacts; omitted: every subscribed contact' });

export const CreateCampaign = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  subject: Type.String({ minLength: 1, maxLength: 300, pattern: '^[^\\r\\n]*$' }),
  bodyText: Type.String({ minLength: 1, maxLength: 100_000 }),
  contactIds: Type.Optional(ContactIds),
}, strict);

export const UpdateCampaign = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 300, pattern: '^[^\\r\\n]*$' })),
  bodyText: Type.Optional(Type.String({ minLength: 1, maxLength: 100_000 })),
  contactIds: Type.Optional(Nullable(ContactIds)),
}, { ...strict, minProperties: 1 });

const Counts = Type.Object({ queued: Type.Integer(), claimed: Type.Integer(), sent: Type.Integer(), failed: Type.Integer(), refused: Type.Integer() });

export const Campaign = Type.Object({
  id: Type.String(),
  name: Type.String(),
  subject: Type.String(),
  bodyText: Type.String(),
  version: Type.Integer(),
  contactIds: Nullable(Type.Array(Type.String())),
  status: Type.String({ description: 'draft, sending, sent' }),
  sendRequestedBy: Nullable(Type.String()),
  sendRequestedAt: Nullable(Timestamp),
  approvalId: Nullable(Type.String()),
  completedAt: Nullable(Timestamp),
  counts: Counts,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export const CampaignPage = Type.Object({ items: Type.Array(Campaign), nextCursor: Nullable(Type.String()) });

export const SendQuery = Type.Object({
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Cursor),
  campaignId: Type.Optional(Type.String({ format: 'uuid' })),
  state: Type.Optional(Type.Union(['queued', 'claimed', 'sent', 'failed', 'refused'].map((s) => Type.Literal(s)))),
}, strict);

export const Send = Type.Object({
  id: Type.String(),
  campaignId: Type.String(),
  contactId: Nullable(Type.String()),
  campaignVersion: Type.Integer(),
  state: Type.String({ description: 'queued, claimed, sent, failed, refused' }),
  refusedReason: Nullable(Type.String()),
  messageId: Type.String(),
  attempts: Type.Integer(),
  claimedAt: Nullable(Timestamp),
  sentAt: Nullable(Timestamp),
  lastError: Nullable(Type.String()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export const SendPage = Type.Object({ items: Type.Array(Send), nextCursor: Nullable(Type.String()) });

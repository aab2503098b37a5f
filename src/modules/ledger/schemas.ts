import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;
const Id = Type.String({ format: 'uuid' });
/** Minor units as a decimal string; the service gives each malformed value its own ledgerCode. */
const Amount = Type.String({ minLength: 1, maxLength: 80, description: 'Integer in minor units as a decimal string (up to 2^128 − 1), never a JSON number' });
const Cursor = Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const AccountParams = Type.Object({ id: Id }, strict);
export const TransferParams = Type.Object({ id: Id }, strict);

export const CreateAccount = Type.Object(
  {
    code: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$', description: 'Chart-of-accounts code, unique in the tenant' }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    asset: Type.String({ minLength: 1, maxLength: 32, description: 'ISO 4217 code (EUR) or a lower-case custom unit (points)' }),
    scale: Type.Optional(Type.Integer({ minimum: 0, maximum: 18, description: 'Decimal places; required for a custom unit, implied by ISO 4217' })),
    flags: Type.Optional(Type.Object({
      debits_must_not_exceed_credits: Type.Optional(Type.Boolean()),
      credits_must_not_exceed_debits: Type.Optional(Type.Boolean()),
    }, strict)),
  },
  strict,
);

export const AccountQuery = Type.Object({ asOf: Type.Optional(Type.String({ format: 'date-time' })) }, strict);
export const AccountListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Cursor),
    asset: Type.Optional(Type.String({ maxLength: 32 })),
  },
  strict,
);

export const Balances = Type.Object({
  debitsPending: Type.String(),
  debitsPosted: Type.String(),
  creditsPending: Type.String(),
  creditsPosted: Type.String(),
  asOf: Nullable(Type.String({ format: 'date-time' })),
});
export const Account = Type.Object({
  id: Type.String(),
  code: Type.String(),
  name: Type.String(),
  asset: Type.String(),
  scale: Type.Integer(),
  flags: Type.Object({ debits_must_not_exceed_credits: Type.Boolean(), credits_must_not_exceed_debits: Type.Boolean(), closed: Type.Boolean() }),
  balances: Balances,
  closedAt: Nullable(Type.String({ format: 'date-time' })),
  createdAt: Type.String({ format: 'date-time' }),
});
export const AccountPage = Type.Object({ items: Type.Array(Account), nextCursor: Nullable(Type.String()) });

export const TransferInput = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'Chosen by the client: the idempotency key of the transfer' }),
    kind: Type.Optional(Type.Union([Type.Literal('posted'), Type.Literal('pending'), Type.Literal('post_pending'), Type.Literal('void_pending')])),
    debitAccountId: Type.Optional(Id),
    creditAccountId: Type.Optional(Id),
    amount: Type.Optional(Amount),
    pendingId: Type.Optional(Id),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 31_536_000 })),
    reverses: Type.Optional(Id),
    code: Type.Optional(Type.Integer({ minimum: 0, maximum: 65_535 })),
    reference: Type.Optional(Type.String({ maxLength: 200 })),
  },
  strict,
);
export const LinkedTransfers = Type.Object({ transfers: Type.Array(TransferInput, { minItems: 1, maxItems: 100 }) }, strict);

export const Transfer = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  debitAccountId: Type.String(),
  creditAccountId: Type.String(),
  amount: Type.String(),
  asset: Type.String(),
  scale: Type.Integer(),
  pendingId: Nullable(Type.String()),
  timeoutSeconds: Type.Union([Type.Integer(), Type.Null()]),
  expiresAt: Nullable(Type.String({ format: 'date-time' })),
  reverses: Nullable(Type.String()),
  chainId: Type.String(),
  chainIndex: Type.Integer(),
  chainSize: Type.Integer(),
  code: Type.Integer(),
  reference: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
});
export const TransferDetail = Type.Intersect([
  Transfer,
  Type.Object({
    resolution: Type.Union([Type.Object({ id: Type.String(), kind: Type.String() }), Type.Null()]),
    reversedAmount: Type.String(),
  }),
]);
export const TransferChain = Type.Object({ transfers: Type.Array(Transfer) });
export const TransferListQuery = Type.Object(
  {
    accountId: Type.Optional(Id),
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    kind: Type.Optional(Type.Union([Type.Literal('posted'), Type.Literal('pending'), Type.Literal('post_pending'), Type.Literal('void_pending'), Type.Literal('expire_pending')])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Cursor),
  },
  strict,
);
export const TransferPage = Type.Object({ items: Type.Array(Transfer), nextCursor: Nullable(Type.String()) });

const AuditEventShape = Type.Object({
  log: Type.String(),
  id: Type.String(),
  leafIndex: Type.Integer(),
  leafHash: Type.String(),
  occurredAt: Type.String(),
  actor: Type.Object({ type: Type.String(), id: Nullable(Type.String()) }),
  action: Type.String(),
  target: Type.Union([Type.Object({ type: Type.String(), id: Nullable(Type.String()) }), Type.Null()]),
  outcome: Type.String(),
  reason: Nullable(Type.String()),
  metadata: Type.Object({}, { additionalProperties: true }),
  request: Type.Object({ ip: Nullable(Type.String()), userAgent: Nullable(Type.String()), requestId: Nullable(Type.String()) }),
});
export const TransferProof = Type.Object({
  transfer: Transfer,
  digest: Type.String({ description: 'SHA-256 (hex) of the canonical transfer under its tenant log' }),
  event: AuditEventShape,
  index: Type.Integer(),
  size: Type.Integer(),
  leafHash: Type.String(),
  proof: Type.Array(Type.String()),
  checkpoint: Type.String({ description: 'Signed checkpoint (C2SP signed note) the proof leads to' }),
});

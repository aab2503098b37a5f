import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;
const Base64 = Type.String({ contentEncoding: 'base64' });

const Filters = {
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  actorType: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('api_key'), Type.Literal('operator'), Type.Literal('system')])),
  action: Type.Optional(Type.String({ minLength: 2, maxLength: 100, pattern: '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*(\\.\\*)?$' })),
  outcome: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('failure')])),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  until: Type.Optional(Type.String({ format: 'date-time' })),
};

export const ListQuery = Type.Object(
  {
    ...Filters,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 40, pattern: '^[A-Za-z0-9_-]+$' })),
  },
  strict,
);

export const ExportQuery = Type.Object(
  { ...Filters, format: Type.Optional(Type.Union([Type.Literal('jsonl'), Type.Literal('csv')], { default: 'jsonl' })) },
  strict,
);

export const AuditEvent = Type.Object({
  id: Type.String(),
  leafIndex: Type.Integer(),
  leafHash: Base64,
  occurredAt: Type.String({ format: 'date-time' }),
  actor: Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) }),
  action: Type.String(),
  target: Type.Union([Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) }), Type.Null()]),
  outcome: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  metadata: Type.Record(Type.String(), Type.Unknown()),
  request: Type.Object({
    ip: Type.Union([Type.String(), Type.Null()]),
    userAgent: Type.Union([Type.String(), Type.Null()]),
    requestId: Type.Union([Type.String(), Type.Null()]),
  }),
});
export const EventPage = Type.Object({ items: Type.Array(AuditEvent), nextCursor: Type.Union([Type.String(), Type.Null()]) });

export const Checkpoint = Type.Object({
  origin: Type.String(),
  size: Type.Integer(),
  rootHash: Base64,
  /** The signed note: verify it with the key of GET /api/v1/translog/key. */
  checkpoint: Type.String(),
});

export const InclusionQuery = Type.Object(
  {
    index: Type.Optional(Type.Integer({ minimum: 0 })),
    eventId: Type.Optional(Type.String({ format: 'uuid' })),
    size: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  strict,
);
export const InclusionProof = Type.Object({
  index: Type.Integer(),
  size: Type.Integer(),
  leafHash: Base64,
  proof: Type.Array(Base64),
  /** The signed checkpoint of `size` when it is the current one, else null. */
  checkpoint: Type.Union([Type.String(), Type.Null()]),
});

export const ConsistencyQuery = Type.Object(
  { from: Type.Optional(Type.Integer({ minimum: 1 })), to: Type.Optional(Type.Integer({ minimum: 1 })) },
  strict,
);
export const ConsistencyProof = Type.Object({
  from: Type.Integer(),
  to: Type.Integer(),
  proof: Type.Array(Base64),
  checkpoint: Type.Union([Type.String(), Type.Null()]),
});

export const VerifierKey = Type.Object({
  keyName: Type.String(),
  keyId: Type.String(),
  /** signed-note verifier key `<name>+<hex id>+<base64 key>`. */
  verifierKey: Type.String(),
  /** Origin of a tenant's log: replace {tenantId}. The platform log is `<keyName>/platform`. */
  originTemplate: Type.String(),
});

export const KeyHistory = Type.Object({
  /** Oldest first; the active key has `validUntil: null`. */
  keys: Type.Array(Type.Object({
    keyId: Type.String(),
    verifierKey: Type.String(),
    validFrom: Type.String({ format: 'date-time' }),
    validUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    /** Retired keys: the last size of the log (platform, or the caller's tenant) the key signed; a larger one signed by it is refused. */
    lastSizes: Type.Optional(Type.Record(Type.String(), Type.Integer())),
  })),
});

export const CosignaturesBody = Type.Object({
  /** `platform` or a tenant id. */
  log: Type.String({ pattern: '^(platform|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$' }),
  size: Type.Integer({ minimum: 1 }),
  /** C2SP tlog-cosignature signature lines (`— <witness> <base64>`), one per line, as the witness answered add-checkpoint. */
  cosignatures: Type.String({ minLength: 1, maxLength: 16_384 }),
}, strict);

export const CosignaturesStored = Type.Object({
  stored: Type.Array(Type.Object({ witness: Type.String(), keyId: Type.String(), timestamp: Type.Integer() })),
});

export const ReportQuery = Type.Object(
  { days: Type.Optional(Type.Integer({ enum: [7, 30], default: 7, description: 'the last 7 or 30 UTC days, today included' })) },
  strict,
);
const ReportCounts = {
  signIns: Type.Integer({ minimum: 0 }),
  signInFailures: Type.Integer({ minimum: 0, description: 'failed passwords and second factors' }),
  deniedRequests: Type.Integer({ minimum: 0, description: 'requests refused for a missing permission (access.denied)' }),
  exports: Type.Integer({ minimum: 0, description: 'audit exports (audit.exported)' }),
  adminActions: Type.Integer({ minimum: 0 }),
  throttledAttempts: Type.Integer({ minimum: 0, description: 'sign-in attempts refused by the throttle, where the tenant\'s log has them' }),
};
export const Report = Type.Object({
  days: Type.Integer(),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  /** Oldest first, one entry per UTC day, days without events included. */
  series: Type.Array(Type.Object({ date: Type.String({ format: 'date' }), ...ReportCounts })),
  totals: Type.Object(ReportCounts),
});

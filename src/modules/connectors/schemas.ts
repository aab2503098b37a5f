import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;

export const CONNECTOR_KINDS = ['oauth_refresh_token', 'api_key'] as const;

/**
 * The secret is write-only: it appears in request bodies and nowhere else.
 * No response schema below has a field that could carry it; responses show
 * `secretFingerprint` (sha256, 64 bits) and `secretLastFour` (empty below 16
 * characters) instead.
 */
const Secret = Type.String({ minLength: 8, maxLength: 8192, pattern: '^[\\x21-\\x7e]+$', description: 'write-only; printable ASCII without spaces' });
const Provider = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9._-]*$', description: 'e.g. hubspot, google, slack' });
const Scope = Type.String({ minLength: 1, maxLength: 200, pattern: '^[\\x21-\\x7e]+$' });
const Scopes = Type.Array(Scope, { maxItems: 64, uniqueItems: true });
const MetadataValue = Type.Union([Type.String({ maxLength: 1000 }), Type.Number(), Type.Boolean(), Type.Null()]);
/** Plain, non-secret context (account id, region…). Keys that look like secrets are refused. */
const Metadata = Type.Record(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }), MetadataValue, { maxProperties: 32 });
const Kind = Type.Union([Type.Literal('oauth_refresh_token'), Type.Literal('api_key')]);

export const ConnectorParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);

export const CreateConnector = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    provider: Provider,
    kind: Kind,
    scopes: Type.Optional(Scopes),
    metadata: Type.Optional(Metadata),
    secret: Secret,
  },
  strict,
);

/** `secret` rotates the credential; the other fields change its description. */
export const UpdateConnector = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    scopes: Type.Optional(Scopes),
    metadata: Type.Optional(Metadata),
    secret: Type.Optional(Secret),
  },
  { ...strict, minProperties: 1 },
);

export const Connector = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    provider: Type.String(),
    kind: Kind,
    scopes: Type.Array(Type.String()),
    metadata: Type.Record(Type.String(), MetadataValue),
    secretFingerprint: Type.String(),
    secretLastFour: Type.String(),
    secretUpdatedAt: Type.String({ format: 'date-time' }),
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  strict,
);

export const ConnectorList = Type.Object({ items: Type.Array(Connector), nextCursor: Type.Union([Type.String(), Type.Null()]) }, strict);
export const ConnectorListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
  },
  strict,
);

import { Type } from 'typebox';
import { validateIssuerConfig, type OidcIssuerConfig } from './oidc-issuers.ts';
import { decodeWebhookSecret, WEBHOOK_SECRET_PREFIX } from './webhook-secret.ts';
import type { Declared } from './parse.ts';
import { isCidr } from './cidr.ts';

type Annotations = Pick<Declared, 'env' | 'description' | 'errorMessage'>;

const url = (protocols: readonly string[], annotations: Annotations) =>
  Type.Optional(
    Type.Refine(
      Type.String(annotations),
      (raw) => URL.canParse(raw) && protocols.includes(new URL(raw).protocol),
      (raw) => (URL.canParse(raw) ? `protocol must be one of ${protocols.join(', ')}` : 'not a valid URL'),
    ),
  );

/** The signer's own check (canonical base64, 16 to 128 bytes): a secret accepted here always signs. */
const isWebhookSecret = (secret: string) => {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) return false;
  const key = decodeWebhookSecret(secret);
  key?.fill(0);
  return key !== undefined;
};

const webhookSecret = (annotations: Annotations) =>
  Type.Optional(Type.Refine(Type.String(annotations), isWebhookSecret, () => 'expected whsec_ followed by canonical base64 of 16 to 128 random bytes'));

const origin = Type.Refine(
  Type.String(),
  (o) => o === '*' || (URL.canParse(o) && new URL(o).origin === o),
  (o) => (URL.canParse(o) ? `"${o}" must be a bare origin like https://app.example.com` : `"${o}" is not an origin`),
);

const issuer = Type.Refine(
  Type.Unsafe<OidcIssuerConfig>(Type.Object({})),
  (c) => validateIssuerConfig(c).length === 0,
  (c) => validateIssuerConfig(c).join('; '),
);

const cidr = Type.Refine(
  Type.String(),
  (c) => isCidr(c),
  (c) => `"${c}" is not an address range like 10.0.0.0/8 or fd00::/8`,
);

// `<http(s) URL> <vkey>`; the key itself is parsed (key ID checked) when the platform starts (kernel/audit/witness.ts).
// A bare vkey is a witness that is not pushed to: its cosignatures come from an operator.
const WITNESS_ENTRY = /^(?:(\S+) +)?([^\s+]+\+[0-9a-fA-F]{8}\+[A-Za-z0-9+/]{44})$/;
const witness = Type.Refine(
  Type.String(),
  (w) => {
    const m = WITNESS_ENTRY.exec(w.trim());
    return m !== null && (m[1] === undefined || (URL.canParse(m[1]) && ['http:', 'https:'].includes(new URL(m[1]).protocol)));
  },
  (w) => `"${w}" is not "<http(s) URL> <witness vkey name+keyid+base64>"`,
);

const MIN_OPERATOR_TOKEN = 32;

/**
 * Every variable the platform reads, declared once: the key is the config field, `env` the
 * variable, the JSON Schema keywords its type, default and bounds, `description` what the README
 * table and `.env.example` say (`npm run docs:config` writes them; the defaults are appended there).
 * `errorMessage` is the problem reported when a value fails the keywords; Refine checks carry their own.
 */
export const configSchema = Type.Object({
  nodeEnv: Type.Optional(Type.Enum(['production', 'development', 'test'], { env: 'NODE_ENV', description: 'production turns on the production guardrails' })),
  host: Type.String({ env: 'HOST', default: '127.0.0.1', description: 'interface to listen on' }),
  port: Type.Integer({ env: 'PORT', default: 3000, minimum: 0, maximum: 65535, description: 'TCP port' }),
  publicUrl: url(['http:', 'https:'], { env: 'PUBLIC_URL', description: 'external base URL, used in links and as token issuer (required in production)' }),
  databaseUrl: url(['postgres:', 'postgresql:'], { env: 'DATABASE_URL', description: 'PostgreSQL URL; unset = embedded PGlite under OCSUITE_DATA_DIR' }),
  migrationDatabaseUrl: url(['postgres:', 'postgresql:'], { env: 'DATABASE_MIGRATION_URL', description: 'owner connection for migrations (default DATABASE_URL)' }),
  dbPoolMax: Type.Integer({ env: 'OCSUITE_DB_POOL_MAX', default: 10, minimum: 1, maximum: 1000, description: 'PostgreSQL pool size' }),
  redisUrl: url(['redis:', 'rediss:'], { env: 'REDIS_URL', description: 'Redis URL for jobs, rate limits and chat fan-out in production' }),
  dataDir: Type.String({ env: 'OCSUITE_DATA_DIR', default: './.ocsuite', description: 'embedded profile data folder' }),
  masterKeys: Type.Optional(Type.String({ env: 'OCSUITE_MASTER_KEYS', description: 'master keys as comma-separated id:base64 entries (32 bytes each, `openssl rand -base64 32`); a leading * before one id marks the primary, e.g. `*k2:<base64>,k1:<base64>`, else the last entry is the primary (required in production unless _FILE)' })),
  masterKeysFile: Type.Optional(Type.String({ env: 'OCSUITE_MASTER_KEYS_FILE', description: 'path of a mounted secret file holding the master keys' })),
  corsOrigins: Type.Array(origin, { env: 'CORS_ORIGINS', separator: ',', default: [], description: 'comma-separated allowed browser origins (default none; * is refused in production)' }),
  signupEnabled: Type.Boolean({ env: 'OCSUITE_SIGNUP_ENABLED', default: true, description: 'self-serve signup on/off' }),
  signupConfirmation: Type.Optional(Type.Enum(['email', 'none'], { env: 'OCSUITE_SIGNUP_CONFIRMATION', description: 'email: signup answers 202 alike for new and known addresses and creates the account when the mailed link is followed; none: tokens at once, and a known address is revealed (default email in production, none otherwise)' })),
  invitationLinksInResponse: Type.Optional(Type.Boolean({ env: 'OCSUITE_INVITATION_LINKS_IN_RESPONSE', description: 'the inviting admin sees the invitation link in the API response, not only the invitee by mail (default true, false in production)' })),
  operatorToken: Type.Optional(Type.String({ env: 'OCSUITE_OPERATOR_TOKEN', minLength: MIN_OPERATOR_TOKEN, errorMessage: `must be at least ${MIN_OPERATOR_TOKEN} characters`, description: `bearer token for /metrics, at least ${MIN_OPERATOR_TOKEN} characters` })),
  otlpEndpoint: url(['http:', 'https:'], { env: 'OTEL_EXPORTER_OTLP_ENDPOINT', description: 'OTLP/HTTP collector base URL; traces go to <url>/v1/traces as protobuf. Unset = tracing off. https in production unless the host is loopback' }),
  otlpHeaders: Type.Optional(Type.String({ env: 'OTEL_EXPORTER_OTLP_HEADERS', maxLength: 8192, description: 'exporter headers as key=value pairs, comma-separated, values percent-encoded (e.g. authorization=Bearer%20…); prefer OCSUITE_OTLP_HEADERS_FILE for the secret' })),
  otlpHeadersFile: Type.Optional(Type.String({ env: 'OCSUITE_OTLP_HEADERS_FILE', description: 'path of a mounted secret file holding the exporter headers, same format as OTEL_EXPORTER_OTLP_HEADERS (read at start)' })),
  logLevel: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { env: 'LOG_LEVEL', default: 'info', description: 'pino level' }),
  audience: Type.String({ env: 'OCSUITE_TOKEN_AUDIENCE', default: 'ocsuite-api', description: 'aud claim of access tokens' }),
  accessTokenTtlSeconds: Type.Integer({ env: 'OCSUITE_ACCESS_TOKEN_TTL', default: 900, minimum: 30, maximum: 86_400, description: 'access token lifetime in seconds' }),
  refreshTokenTtlSeconds: Type.Integer({ env: 'OCSUITE_REFRESH_TOKEN_TTL', default: 2_592_000, minimum: 300, maximum: 31_536_000, description: 'refresh token lifetime in seconds' }),
  invitationTtlSeconds: Type.Integer({ env: 'OCSUITE_INVITATION_TTL', default: 604_800, minimum: 300, maximum: 2_592_000, description: 'invitation lifetime in seconds' }),
  bodyLimitBytes: Type.Integer({ env: 'OCSUITE_BODY_LIMIT', default: 1_048_576, minimum: 1024, maximum: 104_857_600, description: 'maximum request body in bytes' }),
  requestTimeoutMs: Type.Integer({ env: 'OCSUITE_REQUEST_TIMEOUT_MS', default: 10_000, minimum: 100, maximum: 600_000, description: 'bound on receiving a whole request, headers and body, and on handling it; 408 after it' }),
  keepAliveTimeoutMs: Type.Integer({ env: 'OCSUITE_KEEP_ALIVE_TIMEOUT_MS', default: 5_000, minimum: 100, maximum: 600_000, description: 'idle keep-alive connections are closed after this many milliseconds' }),
  maxConnectionsPerIp: Type.Integer({ env: 'OCSUITE_MAX_CONNECTIONS_PER_IP', default: 100, minimum: 1, maximum: 1_000_000, description: 'concurrent connections allowed from one client IP; more are refused with 503' }),
  healthRateLimitPerMinute: Type.Integer({ env: 'OCSUITE_HEALTH_RATE_LIMIT', default: 600, minimum: 1, maximum: 1_000_000, description: 'requests per minute per IP to /healthz and /readyz, a budget of their own' }),
  statementTimeoutMs: Type.Integer({ env: 'OCSUITE_STATEMENT_TIMEOUT_MS', default: 5_000, minimum: 100, maximum: 600_000, description: 'per-transaction statement_timeout' }),
  rateLimitPerMinute: Type.Integer({ env: 'OCSUITE_RATE_LIMIT', default: 600, minimum: 1, maximum: 1_000_000, description: 'requests per minute per IP' }),
  authRateLimitPerMinute: Type.Integer({ env: 'OCSUITE_AUTH_RATE_LIMIT', default: 20, minimum: 1, maximum: 1_000_000, description: 'auth requests per minute per IP' }),
  throttleSummarySeconds: Type.Integer({ env: 'OCSUITE_THROTTLE_SUMMARY_SECONDS', default: 300, minimum: 1, maximum: 86_400, description: 'auth requests refused with 429 are summarised in the platform audit log once per client IP and account per this many seconds' }),
  stepUpMaxAgeSeconds: Type.Integer({ env: 'OCSUITE_STEP_UP_SECONDS', default: 600, minimum: 30, maximum: 86_400, description: 'how recent a second-factor check must be for sensitive operations' }),
  refreshReuseGraceSeconds: Type.Integer({ env: 'OCSUITE_REFRESH_GRACE_SECONDS', default: 10, minimum: 0, maximum: 120, description: 'a rotated refresh token reused within this many seconds is a benign race, not theft' }),
  oidcIssuers: Type.Array(issuer, { env: 'OCSUITE_OIDC_ISSUERS', default: [], errorMessage: 'expected a JSON array of issuer objects', description: 'JSON array of external OIDC issuers (see docs/security/identity.md)' }),
  smtpUrl: url(['smtp:', 'smtps:'], { env: 'SMTP_URL', description: 'smtp(s)://user:pass@host:port; unset = mail written to the local outbox' }),
  mailFrom: Type.String({ env: 'MAIL_FROM', default: 'OC-Suite <no-reply@localhost>', description: 'sender address' }),
  jobsPrefix: Type.String({ env: 'OCSUITE_JOBS_PREFIX', default: 'ocsuite', pattern: '^[A-Za-z0-9_.-]{1,100}$', errorMessage: 'letters, digits, _ . - only (at most 100)', description: 'BullMQ key prefix in Redis' }),
  outboxMaxDepth: Type.Integer({ env: 'OCSUITE_OUTBOX_MAX_DEPTH', default: 50_000, minimum: 1, maximum: 100_000_000, description: 'jobs waiting in the outbox (not yet handed to the queue driver) past which requests that enqueue answer 503 with Retry-After' }),
  scheduleHealSeconds: Type.Integer({ env: 'OCSUITE_SCHEDULE_HEAL_SECONDS', default: 60, minimum: 5, maximum: 86_400, description: 'how often workers re-assert the repeatable schedules (also on every Redis reconnect), so a Redis restart or flush loses none' }),
  inProcessWorkers: Type.Optional(Type.Boolean({ env: 'OCSUITE_INPROCESS_WORKERS', description: 'run job workers inside serve (default true unless REDIS_URL is set; then run `ocsuite worker`)' })),
  alertWebhookUrl: url(['http:', 'https:'], { env: 'OCSUITE_ALERT_WEBHOOK_URL', description: 'where alert events (job failure spikes) are POSTed, e.g. an n8n alerts/* workflow' }),
  alertWebhookSecret: webhookSecret({ env: 'OCSUITE_ALERT_WEBHOOK_SECRET', description: 'Standard Webhooks secret (whsec_…) signing alert deliveries; required with OCSUITE_ALERT_WEBHOOK_URL' }),
  exportRateLimitPerMinute: Type.Integer({ env: 'OCSUITE_EXPORT_RATE_LIMIT', default: 10, minimum: 1, maximum: 1_000_000, description: 'audit export requests per minute per IP' }),
  accessLogEnabled: Type.Boolean({ env: 'OCSUITE_ACCESS_LOG', default: true, description: 'write one access-log row per request, in batches' }),
  accessLogSync: Type.Boolean({ env: 'OCSUITE_ACCESS_LOG_SYNC', default: false, description: 'answer a request only after its access-log line is committed (one shared INSERT per batch of concurrent answers), so a crashed or killed process loses no line of a request that got a response; costs the commit in each response\'s latency' }),
  accessLogFlushMs: Type.Integer({ env: 'OCSUITE_ACCESS_LOG_FLUSH_MS', default: 1_000, minimum: 10, maximum: 60_000, description: 'access-log batch interval in milliseconds' }),
  witnessUrl: url(['http:', 'https:'], { env: 'OCSUITE_WITNESS_URL', description: 'optional https URL that receives each new audit checkpoint as a Standard Webhooks message (a push on the job system, with retries; for C2SP witnesses use OCSUITE_WITNESSES)' }),
  witnessSecret: webhookSecret({ env: 'OCSUITE_WITNESS_SECRET', description: 'Standard Webhooks secret (whsec_…) signing the witness pushes; required with OCSUITE_WITNESS_URL' }),
  witnesses: Type.Array(witness, { env: 'OCSUITE_WITNESSES', separator: ',', default: [], description: 'comma-separated C2SP tlog-witness witnesses, each `<submission URL> <witness vkey>` (vkey `<name>+<hex id>+<base64 key>`, type 0x04): every new checkpoint is sent to `<URL>/add-checkpoint` on the job system, with retries, and the cosignatures they return are verified and stored; a bare vkey is a witness not pushed to, whose cosignatures an operator posts (default none)' }),
  witnessLogs: Type.Enum(['all', 'platform'], { env: 'OCSUITE_WITNESS_LOGS', default: 'all', description: 'which logs go to OCSUITE_WITNESSES: all (the platform log and every tenant log) or platform (the platform log only, for public witnesses that follow one origin)' }),
  egressAllowCidrs: Type.Array(cidr, { env: 'OCSUITE_EGRESS_ALLOW_CIDRS', separator: ',', default: [], description: 'comma-separated address ranges outbound requests (webhooks, model providers) may reach although not public, e.g. an internal n8n at 10.1.2.0/24 (default none)' }),
  egressAllowHttpHosts: Type.Array(Type.String({ minLength: 1 }), { env: 'OCSUITE_EGRESS_ALLOW_HTTP_HOSTS', separator: ',', default: [], description: 'comma-separated host names outbound requests may reach over plain http (default none: https only)' }),
  webhookRetrySchedule: Type.String({ env: 'OCSUITE_WEBHOOK_RETRY_SCHEDULE', default: '0,5,300,1800,7200,18000,36000,36000', pattern: '^[0-9]{1,5}(,[0-9]{1,5}){0,19}$', errorMessage: '1 to 20 comma-separated delays in seconds', description: 'seconds before each outbound webhook attempt (the first after publishing, each next after a failure); after the last failure the delivery is dead' }),
  webhookRetentionDays: Type.Integer({ env: 'OCSUITE_WEBHOOK_RETENTION_DAYS', default: 30, minimum: 1, maximum: 3650, description: 'days webhook messages, their delivery log and accepted inbound events are kept' }),
  webhookDisableAfter: Type.Integer({ env: 'OCSUITE_WEBHOOK_DISABLE_AFTER', default: 5, minimum: 1, maximum: 10_000, description: 'dead-lettered deliveries in a row after which a webhook endpoint is disabled (audited, alerted)' }),
  outreachLeaseSeconds: Type.Integer({ env: 'OCSUITE_OUTREACH_LEASE_SECONDS', default: 120, minimum: 2, maximum: 3600, description: 'how long an outreach send claimed by a worker is its own; a claim older than this (the worker died) is sent again with the same Message-ID' }),
  trustedProxies: Type.Array(cidr, { env: 'OCSUITE_TRUSTED_PROXIES', separator: ',', default: [], description: 'comma-separated address ranges of the reverse proxies / load balancers in front of the API (e.g. 10.0.0.0/8): only a connection from one of them has X-Forwarded-For read, right to left, stopping at the first address outside these ranges, which becomes the client IP of rate limits, lock-outs, audit and access logs (default none: forwarded headers are ignored)' }),
  readDatabaseUrl: url(['postgres:', 'postgresql:'], { env: 'DATABASE_READ_URL', description: 'PostgreSQL URL of a hot standby (streaming replica) for read-only work: audit search and export, reports, DSAR export, ledger history; writes and read-your-writes stay on DATABASE_URL (default: everything on DATABASE_URL)' }),
  dbReadPoolMax: Type.Integer({ env: 'OCSUITE_DB_READ_POOL_MAX', default: 10, minimum: 1, maximum: 1000, description: 'pool size of the DATABASE_READ_URL connection' }),
  tenantRateLimitPerMinute: Type.Integer({ env: 'OCSUITE_TENANT_RATE_LIMIT', default: 6000, minimum: 1, maximum: 10_000_000, description: 'authenticated requests per minute per tenant, all its users and API keys together, across every API node' }),
  userRateLimitPerMinute: Type.Integer({ env: 'OCSUITE_USER_RATE_LIMIT', default: 600, minimum: 1, maximum: 1_000_000, description: 'authenticated read requests per minute per user session or API key, across every API node' }),
  writeRateLimitPerMinute: Type.Integer({ env: 'OCSUITE_WRITE_RATE_LIMIT', default: 300, minimum: 1, maximum: 1_000_000, description: 'writes (POST, PUT, PATCH, DELETE) per minute per user or API key, across every API node' }),
  expensiveRateLimitPerMinute: Type.Integer({ env: 'OCSUITE_EXPENSIVE_RATE_LIMIT', default: 60, minimum: 1, maximum: 1_000_000, description: 'expensive reads (rate class `expensive`: audit search, reports, ledger history) per minute per user or API key' }),
  rateLimitRedisTimeoutMs: Type.Integer({ env: 'OCSUITE_RATE_LIMIT_REDIS_TIMEOUT_MS', default: 250, minimum: 10, maximum: 10_000, description: 'how long a request waits for the shared rate-limit counters in Redis before this process counts it alone (per-process fallback)' }),
  keyRotationDays: Type.Integer({ env: 'OCSUITE_KEY_ROTATION_DAYS', default: 90, minimum: 1, maximum: 3650, description: 'age in days after which the scheduled job rotates tenant data keys and doctor warns about key ages' }),
});

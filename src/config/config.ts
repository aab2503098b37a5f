import path from 'node:path';
import { validateIssuerConfig, type OidcIssuerConfig } from '../kernel/auth/oidc.ts';
import { webhookKey } from '../kernel/webhooks/standard-webhooks.ts';
import { ConfigError } from './errors.ts';

const isWebhookSecret = (secret: string) => {
  if (!secret.startsWith('whsec_')) return false;
  try {
    webhookKey(secret).fill(0);
    return true;
  } catch {
    return false;
  }
};

export type Profile = 'embedded' | 'production';

export interface Config {
  profile: Profile;
  production: boolean;
  host: string;
  port: number;
  publicUrl: string;
  databaseUrl: string | undefined;
  /** Owner connection used to run migrations; defaults to databaseUrl. */
  migrationDatabaseUrl: string | undefined;
  dbPoolMax: number;
  redisUrl: string | undefined;
  dataDir: string;
  masterKeys: string | undefined;
  masterKeysFile: string | undefined;
  corsOrigins: string[];
  signupEnabled: boolean;
  operatorToken: string | undefined;
  logLevel: string;
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  invitationTtlSeconds: number;
  bodyLimitBytes: number;
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long (shorter than the request timeout). */
  keepAliveTimeoutMs: number;
  /** Open connections allowed from one client IP at a time; more are refused at accept. */
  maxConnectionsPerIp: number;
  /** Requests per minute per IP to /healthz and /readyz (their own budget, so a client's spent budget never fails readiness). */
  healthRateLimitPerMinute: number;
  statementTimeoutMs: number;
  rateLimitPerMinute: number;
  authRateLimitPerMinute: number;
  stepUpMaxAgeSeconds: number;
  refreshReuseGraceSeconds: number;
  oidcIssuers: OidcIssuerConfig[];
  smtpUrl: string | undefined;
  mailFrom: string;
  /** BullMQ key prefix: deployments (and test runs) sharing a Redis stay apart. */
  jobsPrefix: string;
  /** Run job workers inside `serve` (default: yes unless REDIS_URL is set; then `ocsuite worker` runs them). */
  inProcessWorkers: boolean;
  alertWebhookUrl: string | undefined;
  alertWebhookSecret: string | undefined;
  /** Audit export downloads per minute per IP (rate class `export`). */
  exportRateLimitPerMinute: number;
  /** Access logs (one row per request, batched) on/off. */
  accessLogEnabled: boolean;
  accessLogFlushMs: number;
  /** Optional witness that receives each new checkpoint as a signed webhook. */
  witnessUrl: string | undefined;
  witnessSecret: string | undefined;
  /** Tenant data keys older than this are rotated by the scheduled job (days). */
  keyRotationDays: number;
}

type Env = Record<string, string | undefined>;

/** Each variable the platform reads, with what it means; `.env.example` and the README mirror this. */
export const variables = {
  NODE_ENV: 'production turns on the production guardrails',
  HOST: 'interface to listen on (default 127.0.0.1)',
  PORT: 'TCP port (default 3000)',
  PUBLIC_URL: 'external base URL, used in links and as token issuer (required in production)',
  DATABASE_URL: 'PostgreSQL URL; unset = embedded PGlite under OCSUITE_DATA_DIR',
  DATABASE_MIGRATION_URL: 'owner connection for migrations (default DATABASE_URL)',
  OCSUITE_DB_POOL_MAX: 'PostgreSQL pool size (default 10)',
  REDIS_URL: 'Redis URL for jobs, rate limits and chat fan-out in production',
  OCSUITE_DATA_DIR: 'embedded profile data folder (default ./.ocsuite)',
  OCSUITE_MASTER_KEYS: 'master keys as id:base64 entries, * marks the primary (required in production unless _FILE)',
  OCSUITE_MASTER_KEYS_FILE: 'path of a mounted secret file holding the master keys',
  CORS_ORIGINS: 'comma-separated allowed browser origins (default none; * is refused in production)',
  OCSUITE_SIGNUP_ENABLED: 'self-serve signup on/off (default true)',
  OCSUITE_OPERATOR_TOKEN: 'bearer token for /metrics, at least 32 characters',
  LOG_LEVEL: 'pino level (default info)',
  OCSUITE_TOKEN_AUDIENCE: 'aud claim of access tokens (default ocsuite-api)',
  OCSUITE_ACCESS_TOKEN_TTL: 'access token lifetime in seconds (default 900)',
  OCSUITE_REFRESH_TOKEN_TTL: 'refresh token lifetime in seconds (default 2592000)',
  OCSUITE_INVITATION_TTL: 'invitation lifetime in seconds (default 604800)',
  OCSUITE_BODY_LIMIT: 'maximum request body in bytes (default 1048576)',
  OCSUITE_REQUEST_TIMEOUT_MS: 'bound on receiving a whole request, headers and body, and on handling it; 408 after it (default 10000)',
  OCSUITE_KEEP_ALIVE_TIMEOUT_MS: 'idle keep-alive connections are closed after this many milliseconds (default 5000)',
  OCSUITE_MAX_CONNECTIONS_PER_IP: 'concurrent connections allowed from one client IP; more are refused with 503 (default 100)',
  OCSUITE_HEALTH_RATE_LIMIT: 'requests per minute per IP to /healthz and /readyz, a budget of their own (default 600)',
  OCSUITE_STATEMENT_TIMEOUT_MS: 'per-transaction statement_timeout (default 5000)',
  OCSUITE_RATE_LIMIT: 'requests per minute per IP (default 600)',
  OCSUITE_AUTH_RATE_LIMIT: 'auth requests per minute per IP (default 20)',
  OCSUITE_STEP_UP_SECONDS: 'how recent a second-factor check must be for sensitive operations (default 600)',
  OCSUITE_REFRESH_GRACE_SECONDS: 'a rotated refresh token reused within this many seconds is a benign race, not theft (default 10)',
  OCSUITE_OIDC_ISSUERS: 'JSON array of external OIDC issuers (see docs/security/identity.md)',
  SMTP_URL: 'smtp(s)://user:pass@host:port; unset = mail written to the local outbox',
  MAIL_FROM: 'sender address (default OC-Suite <no-reply@localhost>)',
  OCSUITE_JOBS_PREFIX: 'BullMQ key prefix in Redis (default ocsuite)',
  OCSUITE_INPROCESS_WORKERS: 'run job workers inside serve (default true unless REDIS_URL is set; then run `ocsuite worker`)',
  OCSUITE_ALERT_WEBHOOK_URL: 'where alert events (job failure spikes) are POSTed, e.g. an n8n alerts/* workflow',
  OCSUITE_ALERT_WEBHOOK_SECRET: 'Standard Webhooks secret (whsec_…) signing alert deliveries; required with OCSUITE_ALERT_WEBHOOK_URL',
  OCSUITE_EXPORT_RATE_LIMIT: 'audit export requests per minute per IP (default 10)',
  OCSUITE_ACCESS_LOG: 'write one access-log row per request, in batches (default true)',
  OCSUITE_ACCESS_LOG_FLUSH_MS: 'access-log batch interval in milliseconds (default 1000)',
  OCSUITE_WITNESS_URL: 'optional https URL that receives each new audit checkpoint as a signed webhook',
  OCSUITE_WITNESS_SECRET: 'Standard Webhooks secret (whsec_…) signing the witness pushes; required with OCSUITE_WITNESS_URL',
  OCSUITE_KEY_ROTATION_DAYS: 'age in days after which the scheduled job rotates tenant data keys and doctor warns about key ages (default 90)',
} as const;

const MIN_OPERATOR_TOKEN = 32;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const production = env.NODE_ENV === 'production';
  // "Production", "prod" or "production " would silently switch the production guardrails off.
  if (env.NODE_ENV !== undefined && env.NODE_ENV !== '' && !['production', 'development', 'test'].includes(env.NODE_ENV)) {
    problems.push(`NODE_ENV: expected production, development or test, got "${env.NODE_ENV}"`);
  }

  const int = (name: keyof typeof variables, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    // Plain decimal digits: Number() would also take 0x50, 8e1 and " 80 ".
    const n = /^[0-9]{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}: expected an integer between ${min} and ${max}, got "${raw}"`);
      return fallback;
    }
    return n;
  };
  const bool = (name: keyof typeof variables, fallback: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    problems.push(`${name}: expected true or false, got "${raw}"`);
    return fallback;
  };
  const url = (name: keyof typeof variables, protocols: string[]): string | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    try {
      const u = new URL(raw);
      if (!protocols.includes(u.protocol)) {
        problems.push(`${name}: protocol must be one of ${protocols.join(', ')}`);
        return undefined;
      }
      return raw;
    } catch {
      problems.push(`${name}: not a valid URL`);
      return undefined;
    }
  };

  const host = env.HOST || '127.0.0.1';
  const port = int('PORT', 3000, 0, 65535);
  const databaseUrl = url('DATABASE_URL', ['postgres:', 'postgresql:']);
  const migrationDatabaseUrl = url('DATABASE_MIGRATION_URL', ['postgres:', 'postgresql:']) ?? databaseUrl;
  const redisUrl = url('REDIS_URL', ['redis:', 'rediss:']);
  const smtpUrl = url('SMTP_URL', ['smtp:', 'smtps:']);
  const publicUrlRaw = url('PUBLIC_URL', ['http:', 'https:']);
  const publicUrl = (publicUrlRaw ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, '');

  const corsOrigins = (env.CORS_ORIGINS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const origin of corsOrigins) {
    if (origin === '*') continue;
    try {
      const u = new URL(origin);
      if (u.origin !== origin) problems.push(`CORS_ORIGINS: "${origin}" must be a bare origin like https://app.example.com`);
    } catch {
      problems.push(`CORS_ORIGINS: "${origin}" is not an origin`);
    }
  }

  const operatorToken = env.OCSUITE_OPERATOR_TOKEN || undefined;
  if (operatorToken !== undefined && operatorToken.length < MIN_OPERATOR_TOKEN) {
    problems.push(`OCSUITE_OPERATOR_TOKEN: must be at least ${MIN_OPERATOR_TOKEN} characters`);
  }

  const logLevel = env.LOG_LEVEL || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push(`LOG_LEVEL: unknown level "${logLevel}"`);
  }

  const config: Config = {
    profile: databaseUrl ? 'production' : 'embedded',
    production,
    host,
    port,
    publicUrl,
    databaseUrl,
    migrationDatabaseUrl,
    dbPoolMax: int('OCSUITE_DB_POOL_MAX', 10, 1, 1000),
    redisUrl,
    dataDir: path.resolve(env.OCSUITE_DATA_DIR || '.ocsuite'),
    masterKeys: env.OCSUITE_MASTER_KEYS || undefined,
    masterKeysFile: env.OCSUITE_MASTER_KEYS_FILE || undefined,
    corsOrigins,
    signupEnabled: bool('OCSUITE_SIGNUP_ENABLED', true),
    operatorToken,
    logLevel,
    issuer: publicUrl,
    audience: env.OCSUITE_TOKEN_AUDIENCE || 'ocsuite-api',
    accessTokenTtlSeconds: int('OCSUITE_ACCESS_TOKEN_TTL', 900, 30, 86_400),
    refreshTokenTtlSeconds: int('OCSUITE_REFRESH_TOKEN_TTL', 2_592_000, 300, 31_536_000),
    invitationTtlSeconds: int('OCSUITE_INVITATION_TTL', 604_800, 300, 2_592_000),
    bodyLimitBytes: int('OCSUITE_BODY_LIMIT', 1_048_576, 1024, 104_857_600),
    requestTimeoutMs: int('OCSUITE_REQUEST_TIMEOUT_MS', 10_000, 100, 600_000),
    keepAliveTimeoutMs: int('OCSUITE_KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 600_000),
    maxConnectionsPerIp: int('OCSUITE_MAX_CONNECTIONS_PER_IP', 100, 1, 1_000_000),
    healthRateLimitPerMinute: int('OCSUITE_HEALTH_RATE_LIMIT', 600, 1, 1_000_000),
    statementTimeoutMs: int('OCSUITE_STATEMENT_TIMEOUT_MS', 5_000, 100, 600_000),
    rateLimitPerMinute: int('OCSUITE_RATE_LIMIT', 600, 1, 1_000_000),
    authRateLimitPerMinute: int('OCSUITE_AUTH_RATE_LIMIT', 20, 1, 1_000_000),
    stepUpMaxAgeSeconds: int('OCSUITE_STEP_UP_SECONDS', 600, 30, 86_400),
    refreshReuseGraceSeconds: int('OCSUITE_REFRESH_GRACE_SECONDS', 10, 0, 120),
    oidcIssuers: oidcIssuers(env.OCSUITE_OIDC_ISSUERS, problems),
    smtpUrl,
    mailFrom: env.MAIL_FROM || 'OC-Suite <no-reply@localhost>',
    jobsPrefix: env.OCSUITE_JOBS_PREFIX || 'ocsuite',
    inProcessWorkers: bool('OCSUITE_INPROCESS_WORKERS', !redisUrl),
    alertWebhookUrl: url('OCSUITE_ALERT_WEBHOOK_URL', ['http:', 'https:']),
    alertWebhookSecret: env.OCSUITE_ALERT_WEBHOOK_SECRET || undefined,
    exportRateLimitPerMinute: int('OCSUITE_EXPORT_RATE_LIMIT', 10, 1, 1_000_000),
    accessLogEnabled: bool('OCSUITE_ACCESS_LOG', true),
    accessLogFlushMs: int('OCSUITE_ACCESS_LOG_FLUSH_MS', 1_000, 10, 60_000),
    witnessUrl: url('OCSUITE_WITNESS_URL', ['http:', 'https:']),
    witnessSecret: env.OCSUITE_WITNESS_SECRET || undefined,
    keyRotationDays: int('OCSUITE_KEY_ROTATION_DAYS', 90, 1, 3650),
  };
  if (config.witnessUrl && !config.witnessSecret) problems.push('OCSUITE_WITNESS_SECRET: required with OCSUITE_WITNESS_URL');
  // The signer's own check (canonical base64, 16 to 128 bytes): a secret accepted here always signs.
  if (config.witnessSecret && !isWebhookSecret(config.witnessSecret)) {
    problems.push('OCSUITE_WITNESS_SECRET: expected whsec_ followed by canonical base64 of 16 to 128 random bytes');
  }
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(config.jobsPrefix)) problems.push('OCSUITE_JOBS_PREFIX: letters, digits, _ . - only (at most 100)');
  if (config.alertWebhookUrl && !config.alertWebhookSecret) problems.push('OCSUITE_ALERT_WEBHOOK_SECRET: required with OCSUITE_ALERT_WEBHOOK_URL (alerts are signed)');
  if (config.alertWebhookSecret && !isWebhookSecret(config.alertWebhookSecret)) {
    problems.push('OCSUITE_ALERT_WEBHOOK_SECRET: expected whsec_ followed by canonical base64 of 16 to 128 random bytes');
  }

  if (production) problems.push(...productionProblems(config, env));
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Guardrails of DESIGN.md §2 that need no database; role checks run at start-up (db/guard.ts). */
function productionProblems(config: Config, env: Env): string[] {
  const out: string[] = [];
  if (!config.databaseUrl) out.push('DATABASE_URL: required when NODE_ENV=production (the embedded profile is for development)');
  if (!env.PUBLIC_URL) out.push('PUBLIC_URL: required when NODE_ENV=production');
  else {
    // It becomes the token issuer and the base of every mailed link: https, nothing but scheme, host and path.
    try {
      const u = new URL(env.PUBLIC_URL);
      if (u.protocol !== 'https:' || u.username || u.password || u.search || u.hash) {
        out.push('PUBLIC_URL: must be an https URL without credentials, query or fragment in production');
      }
    } catch {
      /* already reported */
    }
  }
  if (!config.masterKeys && !config.masterKeysFile) {
    out.push('OCSUITE_MASTER_KEYS: master keys are required in production (or OCSUITE_MASTER_KEYS_FILE)');
  }
  if (config.witnessUrl?.startsWith('http:')) out.push('OCSUITE_WITNESS_URL: must be https in production');
  if (config.alertWebhookUrl?.startsWith('http:')) out.push('OCSUITE_ALERT_WEBHOOK_URL: must be https in production');
  if (config.corsOrigins.includes('*')) out.push('CORS_ORIGINS: * is refused in production; list the allowed origins');
  if (config.operatorToken && /^(change-?me|example|secret|x+)/i.test(config.operatorToken)) {
    out.push('OCSUITE_OPERATOR_TOKEN: looks like a default value; generate one with `openssl rand -base64 32`');
  }
  if (config.databaseUrl) {
    try {
      const password = decodeURIComponent(new URL(config.databaseUrl).password);
      if (password && (password.length < 12 || /^(postgres|password|changeme|secret)$/i.test(password))) {
        out.push('DATABASE_URL: the database password is a default or shorter than 12 characters');
      }
    } catch {
      /* already reported */
    }
  }
  return out;
}

function oidcIssuers(raw: string | undefined, problems: string[]): OidcIssuerConfig[] {
  if (!raw) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    problems.push('OCSUITE_OIDC_ISSUERS: not valid JSON');
    return [];
  }
  if (!Array.isArray(parsed)) {
    problems.push('OCSUITE_OIDC_ISSUERS: expected a JSON array of issuer objects');
    return [];
  }
  const issuers = parsed as OidcIssuerConfig[];
  for (const issuer of issuers) for (const p of validateIssuerConfig(issuer)) problems.push(`OCSUITE_OIDC_ISSUERS: ${p}`);
  return issuers;
}

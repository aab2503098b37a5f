import path from 'node:path';
import { ConfigError } from './errors.ts';
import { declared, readEnv, type EnvValues } from './parse.ts';
import { configSchema } from './schema.ts';

export type Profile = 'embedded' | 'production';

/** The declared variables (schema.ts) and what is derived from them. */
export type Config = Omit<EnvValues<typeof configSchema>, 'nodeEnv' | 'publicUrl' | 'inProcessWorkers' | 'signupConfirmation' | 'invitationLinksInResponse'> & {
  profile: Profile;
  production: boolean;
  /** PUBLIC_URL, or http://HOST:PORT; no trailing slash. */
  publicUrl: string;
  /** The token issuer: publicUrl. */
  issuer: string;
  /** Run job workers inside `serve` (default: yes unless REDIS_URL is set; then `ocsuite worker` runs them). */
  inProcessWorkers: boolean;
  /** How self-serve signup proves the address before anything is created (email in production). */
  signupConfirmation: 'email' | 'none';
  /** Invitation links in API responses (off in production unless allowed). */
  invitationLinksInResponse: boolean;
};

type Env = Record<string, string | undefined>;

/** Each variable the platform reads, with what it means, as the README table and `.env.example` say it. */
export const variables: Readonly<Record<string, string>> = Object.fromEntries(
  declared(configSchema).map(([, v]) => [v.env, ['string', 'number', 'boolean'].includes(typeof v.default) ? `${v.description} (default ${v.default})` : v.description]),
);

export function loadConfig(env: Env = process.env): Config {
  const { values, problems } = readEnv(configSchema, env);
  const { nodeEnv, host, port, databaseUrl, redisUrl, signupConfirmation, invitationLinksInResponse, ...rest } = values;
  const publicUrl = (values.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, '');
  const config: Config = {
    ...rest,
    profile: databaseUrl ? 'production' : 'embedded',
    production: nodeEnv === 'production',
    host,
    port,
    publicUrl,
    issuer: publicUrl,
    databaseUrl,
    migrationDatabaseUrl: values.migrationDatabaseUrl ?? databaseUrl,
    redisUrl,
    dataDir: path.resolve(values.dataDir),
    inProcessWorkers: values.inProcessWorkers ?? !redisUrl,
    signupConfirmation: signupConfirmation ?? (nodeEnv === 'production' ? 'email' : 'none'),
    invitationLinksInResponse: invitationLinksInResponse ?? nodeEnv !== 'production',
  };
  if (config.readDatabaseUrl && !databaseUrl) problems.push('DATABASE_READ_URL: needs DATABASE_URL (it names a standby of that PostgreSQL primary)');
  // Set, not valid: a secret the signer refuses is reported once, by its own check.
  if (config.witnessUrl && !env.OCSUITE_WITNESS_SECRET) problems.push('OCSUITE_WITNESS_SECRET: required with OCSUITE_WITNESS_URL');
  if (config.alertWebhookUrl && !env.OCSUITE_ALERT_WEBHOOK_SECRET) problems.push('OCSUITE_ALERT_WEBHOOK_SECRET: required with OCSUITE_ALERT_WEBHOOK_URL (alerts are signed)');

  if (config.production) problems.push(...productionProblems(config, env));
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
  if (config.witnesses.some((w) => w.trim().startsWith('http:'))) out.push('OCSUITE_WITNESSES: witness URLs must be https in production');
  if (config.otlpEndpoint && !otlpTransportSafe(config.otlpEndpoint)) {
    out.push('OTEL_EXPORTER_OTLP_ENDPOINT: must be https in production (plain http only to a loopback collector)');
  }
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

/** TLS to the collector, unless it is on this host (a sidecar on 127.0.0.1 / ::1 / localhost). */
export function otlpTransportSafe(endpoint: string): boolean {
  try {
    const u = new URL(endpoint);
    if (u.protocol === 'https:') return true;
    const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    return u.protocol === 'http:' && (host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host));
  } catch {
    return false;
  }
}

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { loadConfig, variables, type Config } from '../../src/config/config.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { declared } from '../../src/config/parse.ts';
import { configSchema } from '../../src/config/schema.ts';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('ERR_OCSUITE_CONFIG');
    return [...(err as ConfigError).problems];
  }
  throw new Error('loadConfig accepted the environment');
}

const masterKeys = () => `k1:${randomBytes(32).toString('base64')}`;
const strongDbUrl = () => `postgres://ocsuite:${randomBytes(18).toString('base64url')}@db.internal:5432/ocsuite`;

describe('loadConfig defaults', () => {
  it('an empty environment is the embedded development profile', () => {
    const c = loadConfig({});
    // Subset match: components add variables of their own; these defaults must hold.
    expect(c).toMatchObject({
      profile: 'embedded',
      production: false,
      host: '127.0.0.1',
      port: 3000,
      publicUrl: 'http://127.0.0.1:3000',
      databaseUrl: undefined,
      migrationDatabaseUrl: undefined,
      dbPoolMax: 10,
      redisUrl: undefined,
      dataDir: path.resolve('.ocsuite'),
      masterKeys: undefined,
      masterKeysFile: undefined,
      corsOrigins: [],
      signupEnabled: true,
      operatorToken: undefined,
      logLevel: 'info',
      issuer: 'http://127.0.0.1:3000',
      audience: 'ocsuite-api',
      accessTokenTtlSeconds: 900,
      refreshTokenTtlSeconds: 2_592_000,
      invitationTtlSeconds: 604_800,
      bodyLimitBytes: 1_048_576,
      requestTimeoutMs: 10_000,
      statementTimeoutMs: 5_000,
      rateLimitPerMinute: 600,
      authRateLimitPerMinute: 20,
      smtpUrl: undefined,
      mailFrom: 'OC-Suite <no-reply@localhost>',
      stepUpMaxAgeSeconds: 600,
      refreshReuseGraceSeconds: 10,
      oidcIssuers: [],
    });
  });

  it('empty strings count as unset', () => {
    const c = loadConfig({ PORT: '', DATABASE_URL: '', OCSUITE_SIGNUP_ENABLED: '', LOG_LEVEL: '', OCSUITE_OPERATOR_TOKEN: '' });
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.signupEnabled).toBe(true);
    expect(c.logLevel).toBe('info');
    expect(c.operatorToken).toBeUndefined();
  });

  it('derives profile, issuer and migration URL from what is set', () => {
    const db = strongDbUrl();
    const c = loadConfig({ DATABASE_URL: db, PUBLIC_URL: 'https://api.example.com///', HOST: '::1', PORT: '8080', CORS_ORIGINS: ' https://a.example.com , https://b.example.com:8443 ', OCSUITE_SIGNUP_ENABLED: 'off' });
    expect(c.profile).toBe('production');
    expect(c.production).toBe(false);
    expect(c.databaseUrl).toBe(db);
    expect(c.migrationDatabaseUrl).toBe(db);
    expect(c.publicUrl).toBe('https://api.example.com');
    expect(c.issuer).toBe('https://api.example.com');
    expect(c.corsOrigins).toEqual(['https://a.example.com', 'https://b.example.com:8443']);
    expect(c.signupEnabled).toBe(false);
    expect(loadConfig({ HOST: '::1', PORT: '8080' }).publicUrl).toBe('http://[::1]:8080');
  });

  it('every variable the config reads is documented', () => {
    expect(Object.keys(variables)).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'CORS_ORIGINS', 'OCSUITE_MASTER_KEYS', 'OCSUITE_OPERATOR_TOKEN', 'OCSUITE_BODY_LIMIT', 'SMTP_URL']));
  });
});

describe('ConfigError names each bad variable', () => {
  const bad: Array<[string, string]> = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '3000.5'],
    ['OCSUITE_DB_POOL_MAX', '0'],
    ['DATABASE_URL', 'mysql://db/x'],
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_MIGRATION_URL', 'http://db/x'],
    ['REDIS_URL', 'http://cache:6379'],
    ['SMTP_URL', 'https://mail.example.com'],
    ['PUBLIC_URL', 'ftp://example.com'],
    ['CORS_ORIGINS', 'https://app.example.com/path'],
    ['CORS_ORIGINS', 'app.example.com'],
    ['OCSUITE_SIGNUP_ENABLED', 'maybe'],
    ['OCSUITE_OPERATOR_TOKEN', 'too-short'],
    ['LOG_LEVEL', 'verbose'],
    ['OCSUITE_ACCESS_TOKEN_TTL', '10'],
    ['OCSUITE_REFRESH_TOKEN_TTL', '60'],
    ['OCSUITE_INVITATION_TTL', '100'],
    ['OCSUITE_BODY_LIMIT', '10'],
    ['OCSUITE_REQUEST_TIMEOUT_MS', '-1'],
    ['OCSUITE_STATEMENT_TIMEOUT_MS', 'soon'],
    ['OCSUITE_RATE_LIMIT', '0'],
    ['OCSUITE_AUTH_RATE_LIMIT', '1e9'],
  ];

  it.each(bad)('%s=%s is reported by name', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.startsWith(`${name}: `)).toBe(true);
  });

  it('reports all bad variables at once, in the error message too', () => {
    const env = { PORT: 'abc', LOG_LEVEL: 'loud', REDIS_URL: 'http://x', OCSUITE_BODY_LIMIT: '1', OCSUITE_SIGNUP_ENABLED: 'perhaps' };
    let caught: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const { problems, message } = caught as ConfigError;
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(Object.keys(env).sort());
    for (const name of Object.keys(env)) expect(message).toContain(`  - ${name}: `);
  });

  it('refuses a NODE_ENV it does not know (the guardrails would silently be off) and numbers that are not plain digits', () => {
    for (const value of ['Production', 'prod', 'production ']) {
      expect(problemsOf({ NODE_ENV: value }).map((p) => p.split(':')[0])).toEqual(['NODE_ENV']);
    }
    for (const port of ['0x50', '8e1', ' 80 ', '80.0']) {
      expect(problemsOf({ PORT: port }).map((p) => p.split(':')[0]), port).toEqual(['PORT']);
    }
    expect(loadConfig({ PORT: '8080' }).port).toBe(8080);
  });

  it('wants an https PUBLIC_URL without credentials, query or fragment in production', () => {
    const base = { NODE_ENV: 'production', DATABASE_URL: strongDbUrl(), OCSUITE_MASTER_KEYS: masterKeys() };
    for (const url of ['http://api.example.com', 'https://user:pw@api.example.com', 'https://api.example.com/?q=1', 'https://api.example.com/#f']) {
      expect(problemsOf({ ...base, PUBLIC_URL: url }).map((p) => p.split(':')[0]), url).toEqual(['PUBLIC_URL']);
    }
    expect(loadConfig({ ...base, PUBLIC_URL: 'https://api.example.com/ocsuite' }).production).toBe(true);
  });

  it('refuses webhook secrets the signer would refuse at the first delivery', () => {
    const url = { OCSUITE_ALERT_WEBHOOK_URL: 'https://alerts.example/hook', OCSUITE_WITNESS_URL: 'https://witness.example/in' };
    for (const secret of [`whsec_${'A'.repeat(23)}`, `whsec_${randomBytes(16).toString('base64').replace(/=+$/, '')}`, `whsec_${randomBytes(129).toString('base64')}`, randomBytes(32).toString('base64')]) {
      const problems = problemsOf({ ...url, OCSUITE_ALERT_WEBHOOK_SECRET: secret, OCSUITE_WITNESS_SECRET: secret });
      expect(problems.map((p) => p.split(':')[0]).sort(), secret).toEqual(['OCSUITE_ALERT_WEBHOOK_SECRET', 'OCSUITE_WITNESS_SECRET']);
    }
    const good = `whsec_${randomBytes(32).toString('base64')}`;
    expect(loadConfig({ ...url, OCSUITE_ALERT_WEBHOOK_SECRET: good, OCSUITE_WITNESS_SECRET: good }).alertWebhookSecret).toBe(good);
  });

  it('accepts the boundaries of each range', () => {
    const c = loadConfig({ PORT: '0', OCSUITE_BODY_LIMIT: '1024', OCSUITE_ACCESS_TOKEN_TTL: '86400', OCSUITE_SIGNUP_ENABLED: 'YES' });
    expect(c.port).toBe(0);
    expect(c.bodyLimitBytes).toBe(1024);
    expect(c.accessTokenTtlSeconds).toBe(86_400);
    expect(c.signupEnabled).toBe(true);
    expect(problemsOf({ PORT: '65536' })[0]).toMatch(/^PORT: /);
  });
});

describe('the declaration drives the parser', () => {
  const all = declared(configSchema).map(([, v]) => v);

  it('names each variable once, describes it, and declares defaults it would accept', () => {
    expect(new Set(all.map((v) => v.env)).size).toBe(all.length);
    for (const v of all) {
      expect(v.description, v.env).toMatch(/\w/);
      if (v.default !== undefined) expect(Value.Check(v, v.default), v.env).toBe(true);
    }
  });

  it.each(all.filter((v) => Type.IsInteger(v)).map((v) => [v.env, v] as const))('%s takes plain digits within its bounds only', (name, v) => {
    const { minimum, maximum } = v as { minimum: number; maximum: number };
    expect(() => loadConfig({ [name]: String(minimum) })).not.toThrow();
    expect(() => loadConfig({ [name]: String(maximum) })).not.toThrow();
    const refused = [String(maximum + 1), `${minimum}.0`, ` ${minimum} `, `+${minimum}`, `0x${maximum.toString(16)}`, '1e2', ...(minimum > 0 ? [String(minimum - 1)] : ['-1'])];
    for (const raw of refused) expect(problemsOf({ [name]: raw }), raw).toEqual([`${name}: expected an integer between ${minimum} and ${maximum}, got "${raw}"`]);
  });

  const booleans = declared(configSchema).filter(([, v]) => Type.IsBoolean(v));
  it.each(booleans.map(([field, v]) => [v.env, field as keyof Config] as const))('%s takes the on/off words in any case, nothing else', (name, field) => {
    for (const raw of ['1', 'true', 'YES', 'On']) expect(loadConfig({ [name]: raw })[field], raw).toBe(true);
    for (const raw of ['0', 'False', 'no', 'OFF']) expect(loadConfig({ [name]: raw })[field], raw).toBe(false);
    for (const raw of ['maybe', 'y', '2', ' true']) expect(problemsOf({ [name]: raw }), raw).toEqual([`${name}: expected true or false, got "${raw}"`]);
  });

  it('lists the accepted values of an enumerated variable', () => {
    expect(problemsOf({ LOG_LEVEL: 'verbose' })).toEqual(['LOG_LEVEL: expected fatal, error, warn, info, debug, trace or silent, got "verbose"']);
    expect(loadConfig({ LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
  });

  it('does not echo a refused URL, which may carry a password', () => {
    const password = randomBytes(12).toString('hex');
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'SMTP_URL']) {
      const [problem] = problemsOf({ [name]: `ftp://app:${password}@host.internal/x` });
      expect(problem).toMatch(new RegExp(`^${name}: protocol must be one of `));
      expect(problem).not.toContain(password);
    }
  });

  it('reports each bad OIDC issuer entry as configuration, including entries that are not objects', () => {
    expect(problemsOf({ OCSUITE_OIDC_ISSUERS: '[null, 1]' })).toEqual(['OCSUITE_OIDC_ISSUERS: expected a JSON array of issuer objects']);
    expect(problemsOf({ OCSUITE_OIDC_ISSUERS: '{"issuer":"https://idp.example.com"}' })).toEqual(['OCSUITE_OIDC_ISSUERS: expected a JSON array of issuer objects']);
    expect(problemsOf({ OCSUITE_OIDC_ISSUERS: '[{' })).toEqual(['OCSUITE_OIDC_ISSUERS: not valid JSON']);
    const [problem, ...rest] = problemsOf({ OCSUITE_OIDC_ISSUERS: JSON.stringify([{ issuer: 'http://idp.example.com' }]) });
    expect(rest).toEqual([]);
    expect(problem).toMatch(/^OCSUITE_OIDC_ISSUERS: issuer http:\/\/idp\.example\.com: must be https; /);
  });

  it('reports each bad CORS origin, and hands out a fresh default list each time', () => {
    expect(problemsOf({ CORS_ORIGINS: 'app.example.com,https://ok.example.com,https://x.example.com/p' })).toEqual([
      'CORS_ORIGINS: "app.example.com" is not an origin',
      'CORS_ORIGINS: "https://x.example.com/p" must be a bare origin like https://app.example.com',
    ]);
    loadConfig({}).corsOrigins.push('https://evil.example');
    expect(loadConfig({}).corsOrigins).toEqual([]);
  });
});

describe('production guardrails', () => {
  it('reports missing DATABASE_URL, PUBLIC_URL, master keys and CORS * all at once', () => {
    const problems = problemsOf({ NODE_ENV: 'production', CORS_ORIGINS: '*' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['CORS_ORIGINS', 'DATABASE_URL', 'OCSUITE_MASTER_KEYS', 'PUBLIC_URL']);
  });

  it('combines guardrails with ordinary variable problems', () => {
    const problems = problemsOf({ NODE_ENV: 'production', PORT: 'x', CORS_ORIGINS: '*' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['CORS_ORIGINS', 'DATABASE_URL', 'OCSUITE_MASTER_KEYS', 'PORT', 'PUBLIC_URL']);
  });

  it.each([
    ['a default password', 'postgres://app:postgres@db.internal/ocsuite'],
    ['a short password', `postgres://app:${randomBytes(4).toString('hex')}@db.internal/ocsuite`],
  ])('refuses a database URL with %s', (_label, url) => {
    const problems = problemsOf({ NODE_ENV: 'production', DATABASE_URL: url, PUBLIC_URL: 'https://api.example.com', OCSUITE_MASTER_KEYS: masterKeys() });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^DATABASE_URL: .*password/);
  });

  it('refuses a default-looking operator token in production only', () => {
    const token = `changeme-${randomBytes(24).toString('hex')}`;
    const base = { DATABASE_URL: strongDbUrl(), PUBLIC_URL: 'https://api.example.com', OCSUITE_MASTER_KEYS: masterKeys(), OCSUITE_OPERATOR_TOKEN: token };
    expect(problemsOf({ ...base, NODE_ENV: 'production' })).toEqual([expect.stringMatching(/^OCSUITE_OPERATOR_TOKEN: /)]);
    expect(loadConfig(base).operatorToken).toBe(token);
  });

  it('accepts a complete production environment (keys from a file count too)', () => {
    const base = { NODE_ENV: 'production', DATABASE_URL: strongDbUrl(), PUBLIC_URL: 'https://api.example.com', CORS_ORIGINS: 'https://app.example.com' };
    const c = loadConfig({ ...base, OCSUITE_MASTER_KEYS: masterKeys() });
    expect(c.production).toBe(true);
    expect(c.profile).toBe('production');
    expect(c.corsOrigins).toEqual(['https://app.example.com']);
    expect(loadConfig({ ...base, OCSUITE_MASTER_KEYS_FILE: '/run/secrets/master.keys' }).masterKeysFile).toBe('/run/secrets/master.keys');
  });

  it('does not apply the guardrails outside production', () => {
    const c = loadConfig({ CORS_ORIGINS: '*', DATABASE_URL: 'postgres://app:postgres@db/x' });
    expect(c.corsOrigins).toEqual(['*']);
    expect(c.production).toBe(false);
  });
});

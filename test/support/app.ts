import fs from 'node:fs';
import { Writable } from 'node:stream';
import { randomInt, randomUUID } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { bootPlatform, shutdownPlatform, type BootOptions } from '../../src/boot.ts';
import { loadConfig } from '../../src/config/config.ts';
import { purgePrefix } from '../../src/jobs/bullmq.ts';
import { openPglite, openPg, type Database } from '../../src/db/client.ts';
import type { Platform } from '../../src/kernel/platform.ts';
import { buildServer } from '../../src/server.ts';

export const usingPostgres = Boolean(process.env.OCSUITE_TEST_DATABASE_URL);

export interface TestApp {
  app: FastifyInstance;
  platform: Platform;
  /** Every log line the platform wrote, raw. */
  logs: string[];
  close(): Promise<void>;
}

/** A real platform on PGlite (in memory) or on the run's PostgreSQL database. */
export async function startApp(env: Record<string, string> = {}, boot: Pick<BootOptions, 'keyReloadMs' | 'jobsTuning'> = {}): Promise<TestApp> {
  const config = loadConfig({
    OCSUITE_MASTER_KEYS: process.env.OCSUITE_TEST_MASTER_KEYS!,
    OCSUITE_AUTH_RATE_LIMIT: '100000',
    OCSUITE_RATE_LIMIT: '100000',
    OCSUITE_TENANT_RATE_LIMIT: '100000', OCSUITE_USER_RATE_LIMIT: '100000', OCSUITE_WRITE_RATE_LIMIT: '100000', OCSUITE_EXPENSIVE_RATE_LIMIT: '100000',
    OCSUITE_EXPORT_RATE_LIMIT: '100000',
    OCSUITE_DATA_DIR: `/tmp/ocsuite-test-${process.pid}`,
    PUBLIC_URL: 'http://ocsuite.test',
    LOG_LEVEL: 'info',
    ...(usingPostgres ? { DATABASE_URL: process.env.OCSUITE_TEST_DATABASE_URL! } : {}),
    // With REDIS_URL the app's jobs run on BullMQ, under a key prefix of this app's own (purged on close).
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL, OCSUITE_JOBS_PREFIX: `ocsuite-test-${randomUUID()}`, OCSUITE_INPROCESS_WORKERS: 'true' } : {}),
    ...env,
  });
  const db: Database = usingPostgres ? openPg(config.databaseUrl!, 5) : await openPglite(undefined, { template: pgliteTemplate() });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const platform = await bootPlatform(config, { db, logDestination: sink, jobsConnectionString: config.databaseUrl, workers: true, ...boot });
  const app = await buildServer(platform);
  if (usingPostgres) giveOwnClientAddress(app);
  return {
    app,
    platform,
    logs,
    async close() {
      try {
        await app.close();
        await shutdownPlatform(platform);
      } finally {
        if (config.redisUrl) await purgePrefix(config.redisUrl, config.jobsPrefix);
      }
    },
  };
}

let template: Blob | undefined;
/** The migrated database the global setup dumped (embedded profile), read once per test process. */
export function pgliteTemplate(): Blob | undefined {
  const file = process.env.OCSUITE_TEST_PGLITE_TEMPLATE;
  if (file && !template) template = new Blob([fs.readFileSync(file)]);
  return template;
}

export const uniqueEmail = (label = 'user') => `${label}-${randomUUID().slice(0, 8)}@example.com`;
export const PASSWORD = 'correct horse battery staple';

export interface Account {
  email: string;
  password: string;
  userId: string;
  tenantId: string;
  accessToken: string;
  refreshToken: string;
  /** Set by enableMfa: the TOTP seed and the last time step a code was used for. */
  mfa?: { secret: string; lastStep: number; recoveryCodes: string[] };
}

/**
 * On PostgreSQL every test file shares one database, so the per-IP login throttle (stored there)
 * would add up the deliberate failures of all files from 127.0.0.1 and lock out unrelated tests.
 * Each app's injected requests come from an address of its own (RFC 2544 benchmarking range), as
 * each file's own PGlite gives it in the embedded profile; a test that names remoteAddress keeps it.
 */
function giveOwnClientAddress(app: FastifyInstance): void {
  const clientIp = `198.18.${randomInt(256)}.${randomInt(1, 255)}`;
  const inject = app.inject.bind(app) as (opts?: unknown, cb?: unknown) => unknown;
  (app as unknown as { inject: typeof inject }).inject = (opts, cb) =>
    typeof opts === 'object' && opts !== null && !('remoteAddress' in opts) ? inject({ ...opts, remoteAddress: clientIp }, cb) : inject(opts, cb);
}

export function json<T = any>(res: LightMyRequestResponse): T {
  return JSON.parse(res.body) as T;
}

export async function signup(app: FastifyInstance, tenantName = 'Tenant'): Promise<Account> {
  const email = uniqueEmail('owner');
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName, email, password: PASSWORD } });
  if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`);
  const b = json(res);
  return { email, password: PASSWORD, userId: b.user.id, tenantId: b.tenant.id, accessToken: b.accessToken, refreshToken: b.refreshToken };
}

/** Invites a new user with `role` and accepts, returning the new member's account. */
export async function addMember(app: FastifyInstance, owner: Account, role: string): Promise<Account> {
  const email = uniqueEmail(role);
  const inv = await app.inject({ method: 'POST', url: '/api/v1/invitations', headers: bearer(owner), payload: { email, role } });
  if (inv.statusCode !== 201) throw new Error(`invite failed: ${inv.statusCode} ${inv.body}`);
  const token = new URL(json(inv).acceptUrl).hash.replace('#token=', '');
  const acc = await app.inject({ method: 'POST', url: '/api/v1/invitations/accept', payload: { token, password: PASSWORD } });
  if (acc.statusCode !== 200) throw new Error(`accept failed: ${acc.statusCode} ${acc.body}`);
  const b = json(acc);
  return { email, password: PASSWORD, userId: b.user.id, tenantId: b.tenant.id, accessToken: b.accessToken, refreshToken: b.refreshToken };
}

export async function login(app: FastifyInstance, account: Pick<Account, 'email' | 'password' | 'tenantId' | 'mfa'>): Promise<Account> {
  let res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: account.email, password: account.password, tenant: account.tenantId } });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  if (json(res).mfaRequired) {
    if (!account.mfa) throw new Error('login needs a second factor the test account does not have');
    res = await app.inject({ method: 'POST', url: '/api/v1/auth/mfa/verify', payload: { ticket: json(res).mfaTicket, code: await totpCode(account as Account) } });
    if (res.statusCode !== 200) throw new Error(`mfa verify failed: ${res.statusCode} ${res.body}`);
  }
  const b = json(res);
  return { email: account.email, password: account.password, userId: b.user.id, tenantId: b.tenant.id, accessToken: b.accessToken, refreshToken: b.refreshToken, ...(account.mfa ? { mfa: account.mfa } : {}) };
}

/**
 * A TOTP code for a time step not used yet by this account (codes are single-use);
 * waits for the next 30 s step only when the current and next are both spent.
 */
export async function totpCode(account: Account): Promise<string> {
  const mfa = account.mfa!;
  const current = Math.floor(Date.now() / 30_000);
  let step = Math.max(current, mfa.lastStep + 1);
  if (step > current + 1) {
    await new Promise((r) => setTimeout(r, (current + 1) * 30_000 - Date.now() + 50));
    step = Math.max(Math.floor(Date.now() / 30_000), mfa.lastStep + 1);
  }
  mfa.lastStep = step;
  return new TOTP({ secret: Secret.fromBase32(mfa.secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: step * 30_000 + 1 });
}

/** Enrols and confirms TOTP for `account`; its session is then freshly stepped up. */
export async function enableMfa(app: FastifyInstance, account: Account): Promise<Account> {
  const enrol = await app.inject({ method: 'POST', url: '/api/v1/auth/mfa/enrol', headers: bearer(account), payload: { password: account.password } });
  if (enrol.statusCode !== 201) throw new Error(`mfa enrol failed: ${enrol.statusCode} ${enrol.body}`);
  account.mfa = { secret: json(enrol).secret, lastStep: 0, recoveryCodes: [] };
  const confirm = await app.inject({ method: 'POST', url: '/api/v1/auth/mfa/confirm', headers: bearer(account), payload: { code: await totpCode(account) } });
  if (confirm.statusCode !== 200) throw new Error(`mfa confirm failed: ${confirm.statusCode} ${confirm.body}`);
  account.mfa.recoveryCodes = json(confirm).recoveryCodes;
  return account;
}

export const bearer = (a: { accessToken: string }) => ({ authorization: `Bearer ${a.accessToken}` });

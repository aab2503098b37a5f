import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { bootPlatform, shutdownPlatform } from '../../src/boot.ts';
import { loadConfig } from '../../src/config/config.ts';
import { openPglite, openPg, type Database } from '../../src/db/client.ts';
import type { Platform } from '../../src/platform.ts';
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
export async function startApp(env: Record<string, string> = {}): Promise<TestApp> {
  const config = loadConfig({
    OCSUITE_MASTER_KEYS: process.env.OCSUITE_TEST_MASTER_KEYS!,
    OCSUITE_AUTH_RATE_LIMIT: '100000',
    OCSUITE_RATE_LIMIT: '100000',
    OCSUITE_DATA_DIR: `/tmp/ocsuite-test-${process.pid}`,
    PUBLIC_URL: 'http://ocsuite.test',
    LOG_LEVEL: 'info',
    ...(usingPostgres ? { DATABASE_URL: process.env.OCSUITE_TEST_DATABASE_URL! } : {}),
    ...env,
  });
  const db: Database = usingPostgres ? openPg(config.databaseUrl!, 5) : await openPglite(undefined);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const platform = await bootPlatform(config, { db, logDestination: sink, jobsConnectionString: config.databaseUrl });
  const app = await buildServer(platform);
  return {
    app,
    platform,
    logs,
    async close() {
      await app.close();
      await shutdownPlatform(platform);
    },
  };
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

export async function login(app: FastifyInstance, account: Pick<Account, 'email' | 'password' | 'tenantId'>): Promise<Account> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: account.email, password: account.password, tenant: account.tenantId } });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  const b = json(res);
  return { email: account.email, password: account.password, userId: b.user.id, tenantId: b.tenant.id, accessToken: b.accessToken, refreshToken: b.refreshToken };
}

export const bearer = (a: { accessToken: string }) => ({ authorization: `Bearer ${a.accessToken}` });

import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { bootPlatform, shutdownPlatform } from '../../src/boot.ts';
import { loadConfig } from '../../src/config/config.ts';
import { openPg, openPglite, type Database } from '../../src/db/client.ts';
import { withOwner } from '../../src/db/transaction.ts';
import type { Principal } from '../../src/kernel/auth/principal.ts';
import type { Platform } from '../../src/kernel/platform.ts';
import { buildServer } from '../../src/server.ts';
import { usingPostgres } from '../support/app.ts';

/** A fresh master key entry `id:base64`, generated at run time (never committed). */
export const newMasterKey = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

/** A realistic third-party secret, unique per call. */
export const newSecret = (prefix = 'sk_live_') => `${prefix}${randomBytes(24).toString('base64url')}`;

/**
 * A database of the test's own: master-key rotation reseals the platform's
 * signing keys, so it must never run on the database other suites share.
 * PostgreSQL: a throwaway database; embedded: a PGlite folder on disk, so a
 * CLI process can open it after the test closed it.
 */
export interface IsolatedDatabase {
  /** Environment for the platform and the CLI (DATABASE_URL or OCSUITE_DATA_DIR). */
  env: Record<string, string>;
  dataDir: string;
  open(): Promise<Database>;
  drop(): Promise<void>;
}

export async function isolatedDatabase(label: string): Promise<IsolatedDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `ocsuite-vault-${label}-`));
  if (!usingPostgres) {
    return {
      env: { OCSUITE_DATA_DIR: dataDir },
      dataDir,
      open: () => openPglite(path.join(dataDir, 'pgdata')),
      drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const base = process.env.OCSUITE_TEST_DATABASE_URL!;
  const name = `ocsuite_vault_${label}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: url.toString(), OCSUITE_DATA_DIR: dataDir },
    dataDir,
    open: async () => openPg(url.toString(), 5),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Booted {
  platform: Platform;
  app: FastifyInstance;
  logs: string[];
  close(): Promise<void>;
}

/** A platform and server on an isolated database with the given master keys. */
export async function bootOn(iso: IsolatedDatabase, masterKeys: string, logs: string[] = []): Promise<Booted> {
  const config = loadConfig({
    OCSUITE_MASTER_KEYS: masterKeys,
    OCSUITE_AUTH_RATE_LIMIT: '100000',
    OCSUITE_RATE_LIMIT: '100000',
    OCSUITE_TENANT_RATE_LIMIT: '100000', OCSUITE_USER_RATE_LIMIT: '100000', OCSUITE_WRITE_RATE_LIMIT: '100000', OCSUITE_EXPENSIVE_RATE_LIMIT: '100000',
    PUBLIC_URL: 'http://ocsuite.test',
    LOG_LEVEL: 'info',
    ...iso.env,
  });
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const db = await iso.open();
  const platform = await bootPlatform(config, { db, logDestination: sink, jobsConnectionString: config.databaseUrl, workers: false });
  const app = await buildServer(platform);
  return {
    platform,
    app,
    logs,
    async close() {
      await app.close();
      await shutdownPlatform(platform);
    },
  };
}

/** A principal for service calls made outside HTTP (tests of the worker path, bulk fixtures). */
export function adminPrincipal(tenantId: string): Principal {
  return { kind: 'user', userId: null, keyId: null, tenantId, roles: ['admin'], sessionId: null, permissions: new Set(), mfaAt: null };
}

/** Tenants created directly (signup hashes a password per tenant, which bulk fixtures do not need). */
export async function createTenants(platform: Platform, n: number, label = 'bulk'): Promise<string[]> {
  return platform.withIdentity(async (tx) => {
    const rows = await tx.query<{ id: string }>(sql`
      INSERT INTO tenants (name) SELECT ${label} || ' ' || g FROM generate_series(1, ${n}::int) g RETURNING id`);
    return rows.map((r) => r.id);
  });
}

/** Runs SQL as the owner login: the tests' way around every wall, to tamper with stored data. */
export const asOwner = <T>(platform: Platform, fn: Parameters<typeof withOwner<T>>[1]) => withOwner(platform.db, fn);

export const uuid = () => randomUUID();

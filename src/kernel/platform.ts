import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { Database, Session } from '../db/client.ts';
import type { SQL } from 'drizzle-orm';
import { queryAsTenant, withIdentity, withMaintenance, withTenant, type TenantContext } from '../db/transaction.ts';
import type { AccessTokenIssuer } from './auth/access-tokens.ts';
import type { Keyring } from './crypto/index.ts';
import type { Mailer } from './mail/mailer.ts';
import type { JobQueue } from './jobs/port.ts';
import type { Metrics } from './telemetry/metrics.ts';

/** What every module receives: the kernel, already wired for this process. */
export interface Platform {
  config: Config;
  db: Database;
  keyring: Keyring;
  tokens: AccessTokenIssuer;
  mailer: Mailer;
  jobs: JobQueue;
  log: Logger;
  metrics: Metrics;
  /** One transaction as the runtime role, RLS-scoped to the tenant (DESIGN.md §3). */
  withTenant<T>(ctx: TenantContext, fn: (tx: Session) => Promise<T>): Promise<T>;
  /** One statement in its own tenant transaction: the hot path, one round trip on PostgreSQL. */
  queryAsTenant<T>(ctx: TenantContext, statement: SQL): Promise<T[]>;
  /** One transaction as the identity role, for flows before a tenant is known. */
  withIdentity<T>(fn: (tx: Session) => Promise<T>, ctx?: TenantContext): Promise<T>;
  /** One transaction as the maintenance role: cross-tenant work such as key rotation, always audited. */
  withMaintenance<T>(fn: (tx: Session) => Promise<T>): Promise<T>;
}

export function bindTransactions(config: Config, db: Database): Pick<Platform, 'withTenant' | 'withIdentity' | 'queryAsTenant' | 'withMaintenance'> {
  const opts = { statementTimeoutMs: config.statementTimeoutMs };
  return {
    withTenant: (ctx, fn) => withTenant(db, ctx, opts, fn),
    queryAsTenant: (ctx, statement) => queryAsTenant(db, ctx, opts, statement),
    withIdentity: (fn, ctx) => withIdentity(db, opts, fn, ctx),
    withMaintenance: (fn) => withMaintenance(db, opts, fn),
  };
}

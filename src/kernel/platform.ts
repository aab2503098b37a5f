import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { Database, Session } from '../db/client.ts';
import type { SQL } from 'drizzle-orm';
import { queryAsTenant, withIdentity, withMaintenance, withTenant, type TenantContext } from '../db/transaction.ts';
import type { PermissionCatalog } from './access/catalog.ts';
import type { ActionRegistry } from './actions/registry.ts';
import type { AccessTokenIssuer } from './auth/access-tokens.ts';
import type { Keyring } from './crypto/index.ts';
import type { Egress } from './egress/index.ts';
import type { Mailer } from './mail/mailer.ts';
import type { JobQueue } from './jobs/port.ts';
import type { Metrics } from './telemetry/metrics.ts';
import type { Tracing } from './telemetry/tracing.ts';
import type { WebhookEventType } from './webhooks/event-types.ts';
import type { ClusterBus } from './cluster/bus.ts';

/** A person, as data-subject requests name them: in one tenant, by user id and address. */
export interface SubjectRef {
  tenantId: string;
  userId: string;
  /** The person's email address, for modules that store contacts by address rather than user id. */
  email: string | null;
}

/**
 * The part of a module manifest the kernel calls (modules/manifest.ts has the rest):
 * tenant erasure and data-subject requests walk these in the order modules are composed.
 */
export interface ModuleHooks {
  name: string;
  /** Erase the tenant's rows; returns counts by table for the deletion receipt. */
  eraseTenant?: (tx: Session, tenantId: string) => Promise<Record<string, number> | void>;
  exportSubject?: (tx: Session, subject: SubjectRef) => Promise<Record<string, unknown>>;
  eraseSubject?: (tx: Session, subject: SubjectRef) => Promise<Record<string, number> | void>;
}

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
  /** Spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; null (and nothing traced) otherwise. */
  tracing?: Tracing | null;
  /** Outbound HTTP to URLs tenants or operators chose, behind the SSRF guard. */
  egress: Egress;
  /** Every permission the composed modules declare, and the built-in roles' defaults. */
  permissions: PermissionCatalog;
  /** Actions modules let the approval workflow execute (manifest `actions`), collected at boot. */
  actions: ActionRegistry<Platform>;
  /** What tenant deletion and data-subject requests call in each module (from the manifests). */
  moduleHooks: readonly ModuleHooks[];
  /** Every webhook event type the composed modules declare (the subscription catalogue). */
  webhookEvents: readonly WebhookEventType[];
  /** One transaction as the runtime role, RLS-scoped to the tenant (DESIGN.md §3). */
  withTenant<T>(ctx: TenantContext, fn: (tx: Session) => Promise<T>): Promise<T>;
  /**
   * Read-only work that tolerates replication lag (audit search and export, DSAR export, ledger
   * history): on the hot standby of DATABASE_READ_URL when set, with the same role and RLS scope;
   * otherwise exactly withTenant. Writes, and reads that must see the caller's own writes, never go here.
   */
  withTenantRead<T>(ctx: TenantContext, fn: (tx: Session) => Promise<T>): Promise<T>;
  /** Change hints between the processes of the deployment (Redis pub/sub with REDIS_URL; local otherwise). */
  bus?: ClusterBus | undefined;
  /** The standby of DATABASE_READ_URL, when one is configured (closed with the platform). */
  readDb?: Database | undefined;
  /** One statement in its own tenant transaction: the hot path, one round trip on PostgreSQL. */
  queryAsTenant<T>(ctx: TenantContext, statement: SQL): Promise<T[]>;
  /** One transaction as the identity role, for flows before a tenant is known. */
  withIdentity<T>(fn: (tx: Session) => Promise<T>, ctx?: TenantContext): Promise<T>;
  /** One transaction as the maintenance role: cross-tenant work such as key rotation, always audited; with a tenant set for tenant erasure. */
  withMaintenance<T>(fn: (tx: Session) => Promise<T>, ctx?: TenantContext): Promise<T>;
}

export function bindTransactions(config: Config, db: Database, readDb: Database = db): Pick<Platform, 'withTenant' | 'withTenantRead' | 'withIdentity' | 'queryAsTenant' | 'withMaintenance'> {
  const opts = { statementTimeoutMs: config.statementTimeoutMs };
  return {
    withTenant: (ctx, fn) => withTenant(db, ctx, opts, fn),
    withTenantRead: (ctx, fn) => withTenant(readDb, ctx, opts, fn),
    queryAsTenant: (ctx, statement) => queryAsTenant(db, ctx, opts, statement),
    withIdentity: (fn, ctx) => withIdentity(db, opts, fn, ctx),
    withMaintenance: (fn, ctx) => withMaintenance(db, opts, fn, ctx),
  };
}

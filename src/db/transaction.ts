import { sql, type SQL } from 'drizzle-orm';
import type { Database, Session } from './client.ts';
import { DbRole, type DbRoleName } from './roles.ts';
import { isUuid } from './ids.ts';

export class TenantContextError extends Error {
  readonly code = 'ERR_TENANT_CONTEXT';
}

export interface TenantContext {
  tenantId: string;
  userId?: string | undefined;
  /**
   * Permissions the caller holds that record-level policies consult (`ocsuite_holds('alliances:manage')`),
   * set transaction-locally as `app.permissions`. Only `contextWithPermissions` (kernel/auth/principal.ts)
   * fills it, from the resolved principal — never from client input.
   */
  permissions?: readonly string[] | undefined;
}

/** A permission key as the catalogue spells it: no comma, so the joined setting splits back exactly. */
const PERMISSION_KEY = /^[a-z][a-z0-9-]{0,39}:[a-z][a-z0-9-]{0,39}$/;

export interface TransactionOptions {
  statementTimeoutMs: number;
}

/**
 * The statement that scopes a transaction: role and tenant are bound
 * parameters, never text, and set_config(…, true) is transaction-local, so a
 * pooled connection carries nothing to the next request. The UUID check
 * rejects a malformed context before anything is sent.
 */
function contextStatement(role: DbRoleName, ctx: TenantContext | undefined, opts: TransactionOptions): SQL {
  if (ctx) {
    if (!isUuid(ctx.tenantId)) throw new TenantContextError('tenant id is not a UUID');
    if (ctx.userId !== undefined && !isUuid(ctx.userId)) throw new TenantContextError('user id is not a UUID');
    if (ctx.permissions?.some((p) => !PERMISSION_KEY.test(p))) throw new TenantContextError('a permission is not of the form area:action');
  }
  return sql`SELECT set_config('role', ${role}, true), set_config('statement_timeout', ${String(Math.trunc(opts.statementTimeoutMs))}, true),
    set_config('app.tenant_id', ${ctx?.tenantId.toLowerCase() ?? ''}, true), set_config('app.user_id', ${ctx?.userId?.toLowerCase() ?? ''}, true),
    set_config('app.permissions', ${ctx?.permissions?.join(',') ?? ''}, true)`;
}

const settle = <T>(p: Promise<T>) => p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));

/** SQLSTATE in_failed_sql_transaction: what every statement after the failing one gets. */
const IN_FAILED_TRANSACTION = '25P02';

/**
 * Independent writes of one transaction sent without awaiting each other (one round trip on
 * PostgreSQL's pipeline). Once one fails, the transaction is aborted and the others fail with
 * 25P02: the error thrown is the one that caused it.
 */
export async function sentTogether(work: readonly Promise<unknown>[]): Promise<void> {
  const errors = (await Promise.all(work.map(settle))).flatMap((r) => (r.ok ? [] : [r.error]));
  if (errors.length) throw errors.find((e) => (e as { code?: unknown } | null)?.code !== IN_FAILED_TRANSACTION) ?? errors[0];
}

async function inTransaction<T>(
  db: Database,
  context: SQL | undefined,
  fn: (tx: Session) => Promise<T>,
): Promise<T> {
  const lease = await db.acquire();
  let broken = false;
  try {
    // Not awaited: on PostgreSQL the first query of `fn` is pipelined behind them.
    const opening = lease.begin ? [settle(lease.begin(context))] : [settle(lease.exec('BEGIN')), ...(context ? [settle(lease.query(context))] : [])];
    const opened = Promise.all(opening).then((results) => results.find((r) => !r.ok) ?? { ok: true as const });
    try {
      const result = await fn(lease);
      const o = await opened;
      if (!o.ok) throw o.error;
      await lease.exec('COMMIT');
      return result;
    } catch (err) {
      try {
        await lease.exec('ROLLBACK');
      } catch {
        broken = true;
      }
      // A failed opening makes every later statement fail; report the cause.
      const o = await opened;
      throw o.ok ? err : o.error;
    }
  } finally {
    lease.release(broken);
  }
}

/** Runs `fn` as the runtime role with RLS scoped to one tenant. */
export function withTenant<T>(
  db: Database,
  ctx: TenantContext,
  opts: TransactionOptions,
  fn: (tx: Session) => Promise<T>,
): Promise<T> {
  return inTransaction(db, contextStatement(DbRole.runtime, ctx, opts), fn);
}

/** One statement as the runtime role, RLS-scoped to the tenant, in one round trip. */
export function queryAsTenant<T>(db: Database, ctx: TenantContext, opts: TransactionOptions, statement: SQL): Promise<T[]> {
  return db.scopedQuery<T>(contextStatement(DbRole.runtime, ctx, opts), statement);
}

/** Runs `fn` as the identity role (flows before a tenant is known), optionally with a tenant context. */
export function withIdentity<T>(
  db: Database,
  opts: TransactionOptions,
  fn: (tx: Session) => Promise<T>,
  ctx?: TenantContext,
): Promise<T> {
  return inTransaction(db, contextStatement(DbRole.identity, ctx, opts), fn);
}

/**
 * Runs `fn` as the maintenance role (retention, rotation); with a tenant context for
 * tenant erasure, whose policies admit only rows of that tenant, and only once it is deleted.
 */
export function withMaintenance<T>(db: Database, opts: TransactionOptions, fn: (tx: Session) => Promise<T>, ctx?: TenantContext): Promise<T> {
  return inTransaction(db, contextStatement(DbRole.maintenance, ctx, opts), fn);
}

/** Runs `fn` as the connecting (owner) login: migrations and tests of the database itself only. */
export function withOwner<T>(db: Database, fn: (tx: Session) => Promise<T>): Promise<T> {
  return inTransaction(db, undefined, fn);
}

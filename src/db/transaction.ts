import type { Database, Session } from './client.ts';
import { DbRole, type DbRoleName } from './roles.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class TenantContextError extends Error {
  readonly code = 'ERR_TENANT_CONTEXT';
}

export interface TenantContext {
  tenantId: string;
  userId?: string | undefined;
}

export interface TransactionOptions {
  statementTimeoutMs: number;
}

/**
 * Opens the transaction and sets its role and context in one simple-protocol
 * round trip (DESIGN.md §8: statements, not RLS, are the cost). Only values that
 * passed the strict UUID check and constant role names reach the text, so no
 * untrusted text is ever spliced into SQL. Everything is transaction-local:
 * a pooled connection never carries state to the next request.
 */
function openingStatement(role: DbRoleName, ctx: TenantContext | undefined, opts: TransactionOptions): string {
  const settings = [`set_config('role', '${role}', true)`, `set_config('statement_timeout', '${Math.trunc(opts.statementTimeoutMs)}', true)`];
  if (ctx) {
    if (!UUID.test(ctx.tenantId)) throw new TenantContextError('tenant id is not a UUID');
    if (ctx.userId !== undefined && !UUID.test(ctx.userId)) throw new TenantContextError('user id is not a UUID');
    settings.push(`set_config('app.tenant_id', '${ctx.tenantId.toLowerCase()}', true)`);
    settings.push(`set_config('app.user_id', '${(ctx.userId ?? '').toLowerCase()}', true)`);
  }
  return `BEGIN; SELECT ${settings.join(', ')}`;
}

async function inTransaction<T>(
  db: Database,
  opening: string,
  fn: (tx: Session) => Promise<T>,
): Promise<T> {
  const lease = await db.acquire();
  let broken = false;
  try {
    await lease.exec(opening);
    try {
      const result = await fn(lease);
      await lease.exec('COMMIT');
      return result;
    } catch (err) {
      try {
        await lease.exec('ROLLBACK');
      } catch {
        broken = true;
      }
      throw err;
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
  return inTransaction(db, openingStatement(DbRole.runtime, ctx, opts), fn);
}

/** Runs `fn` as the identity role (flows before a tenant is known), optionally with a tenant context. */
export function withIdentity<T>(
  db: Database,
  opts: TransactionOptions,
  fn: (tx: Session) => Promise<T>,
  ctx?: TenantContext,
): Promise<T> {
  return inTransaction(db, openingStatement(DbRole.identity, ctx, opts), fn);
}

/** Runs `fn` as the maintenance role (retention). */
export function withMaintenance<T>(db: Database, opts: TransactionOptions, fn: (tx: Session) => Promise<T>): Promise<T> {
  return inTransaction(db, openingStatement(DbRole.maintenance, undefined, opts), fn);
}

/** Runs `fn` as the connecting (owner) login: migrations and tests of the database itself only. */
export function withOwner<T>(db: Database, fn: (tx: Session) => Promise<T>): Promise<T> {
  return inTransaction(db, 'BEGIN', fn);
}

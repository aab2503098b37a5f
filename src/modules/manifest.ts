import type { FastifyPluginAsync } from 'fastify';
import type { PermissionDeclaration } from '../kernel/access/catalog.ts';
import type { ActionDeclaration } from '../kernel/actions/registry.ts';
import type { RateClassDeclaration } from '../kernel/access/policy.ts';
import type { SealedColumn } from '../kernel/crypto/sealed-columns.ts';
import type { ScheduleDeclaration } from '../kernel/jobs/port.ts';
import type { ModuleHooks, Platform, SubjectRef } from '../kernel/platform.ts';
import type { WebhookEventType } from '../kernel/webhooks/event-types.ts';

/**
 * The module contract (docs/architecture.md): the one way a service plugs into
 * the kernel. A module folder exports one manifest; `server.ts` and the CLI
 * compose them. Whatever a module declares here it gets from the kernel —
 * routes behind the request path, permissions in the catalogue and in custom
 * roles, key rotation of its sealed columns, its place in tenant deletion and
 * in data-subject requests — and nothing it does not declare.
 */
export interface ModuleManifest {
  /** Folder name, e.g. `knowledge`. */
  name: string;
  description: string;
  /** Routes under `/api/v1` + `prefix` (existing modules keep their historical paths with prefix ''). */
  api?: { prefix: string; plugin: FastifyPluginAsync<{ platform: Platform }> };
  /** Routes outside `/api/v1` (inbound hooks, SSO endpoints, unsubscribe pages). */
  publicRoutes?: FastifyPluginAsync<{ platform: Platform }>;
  /** Permissions this module introduces; its routes may require only catalogued permissions. */
  permissions: readonly PermissionDeclaration[];
  /** The tables this module owns: nobody else queries them. Every table with `tenant_id` has exactly one owner. */
  tables: readonly OwnedTable[];
  /** Columns holding sealed values (key rotation walks them). */
  sealedColumns?: readonly SealedColumn[];
  /** Audit event actions this module records (`ledger.transfer.posted` …). */
  auditEvents?: readonly string[];
  /** Event types tenants may subscribe webhook endpoints to (payloads carry only the tenant's own data). */
  webhookEvents?: readonly WebhookEventType[];
  /** Rate classes this module introduces (beyond default, auth, export, health). */
  rateClasses?: readonly RateClassDeclaration[];
  /** Declares the module's queues and their handlers on the platform's job port. */
  jobs?: (platform: Platform) => Promise<void>;
  /**
   * Actions the approval workflow may execute for this module (kernel/actions/registry.ts):
   * proposed by a user or a model, executed only once a user holding `permission` approves.
   */
  actions?: readonly ActionDeclaration<any, Platform>[];
  /** Repeatable platform jobs (cron, UTC), e.g. expiring pending transfers. */
  schedules?: readonly ScheduleDeclaration[];
  /**
   * Tenant deletion: erase every row of the tenant in the tables marked `erase`.
   * Runs in one transaction as the maintenance role with the tenant set, after
   * the tenant's keys were shredded; must be idempotent (deletion can be re-run).
   * Always filter by `tenantId` too: the maintenance role may see other tenants'
   * rows of a table whose older policies predate the erasure helper.
   */
  eraseTenant?: ModuleHooks['eraseTenant'];
  /** Data-subject access: everything this module stores about one person in the tenant. */
  exportSubject?: ModuleHooks['exportSubject'];
  /** Data-subject erasure: remove or pseudonymise that person's personal data in the tenant. */
  eraseSubject?: ModuleHooks['eraseSubject'];
}

export interface OwnedTable {
  name: string;
  /** What tenant deletion does with the tenant's rows: erased by `eraseTenant`, or kept, and why. */
  onTenantErasure: 'erase' | { retain: string };
}

export type { WebhookEventType };

export type { SubjectRef };

/** Helper that types a manifest literal. */
export function defineModule(manifest: ModuleManifest): ModuleManifest {
  return manifest;
}

import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { isKernelError } from '../../kernel/errors.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createWebhookPublisher } from '../webhooks/publish.ts';
import { conflict, notFound, ProblemError } from '../../http/problem.ts';
import { issueMachineCredential, machineCredentialUsage, revokeMachineCredential } from '../identity/api-keys-service.ts';
import { lacking, memberRoleState } from '../roles/service.ts';
import { CATALOGUE, catalogueEntry } from './catalogue.ts';

interface InstallRow {
  id: string;
  module_key: string;
  module_version: string;
  scopes: string[];
  events: string[];
  credential_id: string;
  installed_by: string | null;
  installed_at: Date;
  uninstalled_by: string | null;
  uninstalled_at: Date | null;
}

const columns = sql`id, module_key, module_version, scopes, events, credential_id, installed_by, installed_at, uninstalled_by, uninstalled_at`;

const view = (r: InstallRow) => ({
  id: r.id, module: r.module_key, version: r.module_version, scopes: [...r.scopes], events: [...r.events], credentialId: r.credential_id,
  status: r.uninstalled_at ? ('uninstalled' as const) : ('installed' as const),
  installedBy: r.installed_by, installedAt: r.installed_at.toISOString(),
  uninstalledBy: r.uninstalled_by, uninstalledAt: r.uninstalled_at?.toISOString() ?? null,
});

/**
 * Marketplace installs (issue #16 §3). An install grants a catalogued module
 * exactly what its entry declares, as a machine credential (an API key with
 * those scopes, acting for the installer and never beyond the installer's own
 * permissions); uninstalling revokes it in the same transaction, so the very
 * next request with it is a 401. Both are audited.
 */
export function createMarketplaceService(platform: Platform) {
  const webhooks = createWebhookPublisher(platform);
  async function find(tx: Session, id: string, lock = false): Promise<InstallRow> {
    const [row] = await tx.query<InstallRow>(sql`SELECT ${columns} FROM marketplace_installs WHERE id = ${id} ${lock ? sql`FOR UPDATE` : sql``}`);
    if (!row) throw notFound('install');
    return row;
  }

  return {
    async catalogue(principal: Principal) {
      const live = await platform.queryAsTenant<{ id: string; module_key: string }>(contextOf(principal), sql`
        SELECT id, module_key FROM marketplace_installs WHERE uninstalled_at IS NULL`);
      const described = new Map(platform.permissions.entries().map((e) => [e.key, e.description]));
      return {
        items: CATALOGUE.map((e) => ({
          key: e.key, name: e.name, description: e.description, publisher: e.publisher, version: e.version,
          permissions: e.permissions.map((key) => ({ key, description: described.get(key) ?? '' })),
          events: [...e.events], installId: live.find((l) => l.module_key === e.key)?.id ?? null,
        })),
      };
    },

    async list(principal: Principal, all: boolean) {
      const rows = await platform.queryAsTenant<InstallRow>(contextOf(principal), sql`
        SELECT ${columns} FROM marketplace_installs ${all ? sql`` : sql`WHERE uninstalled_at IS NULL`}
        ORDER BY installed_at DESC, id DESC LIMIT 500`);
      return { items: rows.map(view) };
    },

    async get(principal: Principal, id: string) {
      return platform.withTenant(contextOf(principal), async (tx) => view(await find(tx, id)));
    },

    async install(principal: Principal, moduleKey: string) {
      const entry = catalogueEntry(moduleKey);
      if (!entry) throw new ProblemError('validation-failed', 400, `No module "${moduleKey}" in the catalogue.`);
      if (principal.userId === null) throw new ProblemError('forbidden', 403, 'Modules are installed by a person, not a machine credential.');
      // Nobody hands a module more than they hold themselves (like an API key's scopes).
      const missing = lacking(principal, entry.permissions);
      if (missing.length > 0) {
        throw new ProblemError('role-escalation', 403, `You cannot grant a module permissions you do not hold: ${missing.join(', ')}.`, { extensions: { permissions: missing } });
      }
      try {
        return await platform.withTenant(contextOf(principal), async (tx) => {
          const [live] = await tx.query<{ id: string }>(sql`SELECT id FROM marketplace_installs WHERE module_key = ${entry.key} AND uninstalled_at IS NULL`);
          if (live) throw conflict(`${entry.name} is installed already; uninstall it first.`);
          const credential = await issueMachineCredential(tx, {
            tenantId: principal.tenantId, name: `module:${entry.key}`, scopes: entry.permissions, createdBy: principal.userId,
          });
          const [row] = await tx.query<InstallRow>(sql`
            INSERT INTO marketplace_installs (tenant_id, module_key, module_version, scopes, events, credential_id, installed_by)
            VALUES (${principal.tenantId}, ${entry.key}, ${entry.version}, ${sql.param([...entry.permissions])}::text[],
                    ${sql.param([...entry.events])}::text[], ${credential.id}, ${principal.userId})
            RETURNING ${columns}`);
          await recordAuditEvent(tx, {
            tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'marketplace.module_installed',
            target: { type: 'marketplace_install', id: row!.id }, outcome: 'success',
            metadata: { module: entry.key, version: entry.version, scopes: entry.permissions, events: entry.events, machinePrincipalId: credential.id },
          });
          // The install as marketplace:read shows it — never the credential (outbox: only if it commits).
          await webhooks.publishIn(tx, principal.tenantId, 'marketplace.module.installed', view(row!));
          return { ...view(row!), credential: credential.key };
        });
      } catch (err) {
        // Two installs at once: the unique index lets one through.
        if ((err as { code?: string }).code === '23505') throw conflict(`${entry.name} is installed already; uninstall it first.`);
        throw err;
      }
    },

    async uninstall(principal: Principal, id: string) {
      await platform.withTenant(contextOf(principal), async (tx) => {
        const row = await find(tx, id, true);
        if (row.uninstalled_at) throw conflict('This install was uninstalled already.');
        await revokeMachineCredential(tx, row.credential_id);
        await tx.query(sql`UPDATE marketplace_installs SET uninstalled_at = now(), uninstalled_by = ${principal.userId} WHERE id = ${id}`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'marketplace.module_uninstalled',
          target: { type: 'marketplace_install', id }, outcome: 'success',
          metadata: { module: row.module_key, machinePrincipalId: row.credential_id, revoked: true },
        });
        await webhooks.publishIn(tx, principal.tenantId, 'marketplace.module.uninstalled', { id, module: row.module_key, version: row.module_version });
      });
    },

    async insights(principal: Principal, id: string) {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const row = await find(tx, id);
        const usage = (await machineCredentialUsage(tx, [row.credential_id])).get(row.credential_id);
        let credential: 'active' | 'revoked' | 'installer-gone' = usage?.revokedAt || !usage ? 'revoked' : 'active';
        let effective: string[] = [];
        if (credential === 'active') {
          // The key acts for its creator: it holds what the creator still holds of its scopes.
          try {
            const creator = usage!.createdBy ? await memberRoleState(tx, platform.permissions, usage!.createdBy, false) : null;
            if (creator) effective = row.scopes.filter((s) => creator.permissions.has(s));
            else credential = 'installer-gone';
          } catch (err) {
            if (!isKernelError(err, 'not-found')) throw err;
            credential = 'installer-gone';
          }
        }
        return {
          installId: row.id, module: row.module_key, status: view(row).status, grantedScopes: [...row.scopes], effectiveScopes: effective,
          events: [...row.events], credential, usageCount: usage?.useCount ?? 0,
          lastActivityAt: usage?.lastUsedAt?.toISOString() ?? null, installedAt: row.installed_at.toISOString(),
        };
      });
    },
  };
}

/** Data-subject access: the installs a person made or removed. */
export async function exportMarketplaceSubject(tx: Session, tenantId: string, userId: string) {
  const rows = await tx.query<InstallRow>(sql`
    SELECT ${columns} FROM marketplace_installs WHERE tenant_id = ${tenantId} AND ${userId}::uuid IN (installed_by, uninstalled_by)
    ORDER BY installed_at`);
  return rows.map((r) => ({ ...view(r), as: [...(r.installed_by === userId ? ['installer'] : []), ...(r.uninstalled_by === userId ? ['uninstaller'] : [])] }));
}

/** Data-subject erasure: the person's references become NULL; what the module was granted stays on record. */
export async function eraseMarketplaceSubject(tx: Session, tenantId: string, userId: string): Promise<number> {
  const rows = await tx.query(sql`
    UPDATE marketplace_installs SET installed_by = NULLIF(installed_by, ${userId}::uuid), uninstalled_by = NULLIF(uninstalled_by, ${userId}::uuid)
    WHERE tenant_id = ${tenantId} AND ${userId}::uuid IN (installed_by, uninstalled_by) RETURNING id`);
  return rows.length;
}

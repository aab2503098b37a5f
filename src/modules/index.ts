import type { ModuleHooks } from '../kernel/platform.ts';
import { registerSealedColumn, sealedColumns } from '../kernel/crypto/sealed-columns.ts';
import { approvalsModule } from './approvals/manifest.ts';
import { academyModule } from './academy/manifest.ts';
import { alliancesModule } from './alliances/manifest.ts';
import { auditModule } from './audit/manifest.ts';
import { chatModule } from './chat/manifest.ts';
import { connectorsModule } from './connectors/manifest.ts';
import { discourseModule } from './discourse/manifest.ts';
import { contentModule } from './content/manifest.ts';
import { identityModule } from './identity/manifest.ts';
import { idempotencyModule } from './idempotency/manifest.ts';
import { jobsModule } from './jobs/manifest.ts';
import type { ModuleManifest } from './manifest.ts';
import { knowledgeModule } from './knowledge/manifest.ts';
import { ledgerModule } from './ledger/manifest.ts';
import { marketplaceModule } from './marketplace/manifest.ts';
import { outreachModule } from './outreach/manifest.ts';
import { privacyModule } from './privacy/manifest.ts';
import { rolesModule } from './roles/manifest.ts';
import { tasksModule } from './tasks/manifest.ts';
import { tenantsModule } from './tenants/manifest.ts';
import { webhooksModule } from './webhooks/manifest.ts';
import { consoleModule } from './console/manifest.ts';

/**
 * Every module of this build, in composition order: routes register in this
 * order and tenant erasure runs in it (a module erases before the modules its
 * rows depend on: roles before identity's memberships).
 */
export const modules: readonly ModuleManifest[] = [
  approvalsModule,
  chatModule,
  knowledgeModule,
  contentModule,
  ledgerModule,
  webhooksModule,
  academyModule,
  alliancesModule,
  tasksModule,
  marketplaceModule,
  privacyModule,
  outreachModule,
  connectorsModule,
  discourseModule,
  jobsModule,
  idempotencyModule,
  rolesModule,
  identityModule,
  auditModule,
  tenantsModule,
  consoleModule,
];

// Key rotation walks the sealed-column registry: a module's columns are in it as soon as the
// module list is loaded (boot and every CLI command load it), never only when a server starts.
for (const m of modules) {
  for (const column of m.sealedColumns ?? []) {
    if (!sealedColumns().some((c) => c.table === column.table && c.column === column.column)) registerSealedColumn(column);
  }
}

/** The part of each manifest tenant deletion and data-subject requests call. */
export function moduleHooksOf(list: readonly ModuleManifest[]): ModuleHooks[] {
  return list.map((m) => ({
    name: m.name,
    ...(m.eraseTenant ? { eraseTenant: m.eraseTenant } : {}),
    ...(m.exportSubject ? { exportSubject: m.exportSubject } : {}),
    ...(m.eraseSubject ? { eraseSubject: m.eraseSubject } : {}),
  }));
}

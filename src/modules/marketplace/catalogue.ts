import type { PermissionCatalog } from '../../kernel/access/catalog.ts';
import type { WebhookEventType } from '../manifest.ts';

/** A module a tenant can install: what it is, and everything it will be granted. */
export interface CatalogueEntry {
  key: string;
  name: string;
  description: string;
  publisher: string;
  version: string;
  /** Catalogued permissions: the installed module's credential holds exactly these. */
  permissions: readonly string[];
  /** Webhook event types it receives; each one's permission is among `permissions`. */
  events: readonly string[];
}

/**
 * The catalogue, in code: reviewed with the code, versioned with it, and
 * checked against the permission catalogue when the server starts.
 */
export const CATALOGUE: readonly CatalogueEntry[] = [
  {
    key: 'knowledge-sync', name: 'Knowledge sync', publisher: 'OC-Suite', version: '1.0.0',
    description: 'Mirrors the tenant\'s knowledge entries to an external wiki (read-only).',
    permissions: ['knowledge:read'], events: [],
  },
  {
    key: 'knowledge-curator', name: 'Knowledge curator', publisher: 'OC-Suite', version: '1.0.0',
    description: 'Suggests and files knowledge entries from external sources.',
    permissions: ['knowledge:read', 'knowledge:write'], events: [],
  },
  {
    key: 'task-reminders', name: 'Task reminders', publisher: 'OC-Suite', version: '1.0.0',
    description: 'Reminds assignees of open tasks and verifiers of completed ones.',
    permissions: ['tasks:read'], events: ['tasks.task.completed', 'tasks.task.verified'],
  },
];

export const catalogueEntry = (key: string): CatalogueEntry | undefined => CATALOGUE.find((e) => e.key === key);

export class MarketplaceCatalogueError extends Error {
  readonly code = 'ERR_MARKETPLACE_CATALOGUE';
}

/**
 * What is wrong with the catalogue against the composed modules: a permission
 * nobody declares, an event type nobody declares, or an event whose permission
 * the entry does not hold (its payloads would show what the module may not read).
 * `events` is omitted where the composed modules' event types are not at hand.
 */
export function catalogueProblems(permissions: PermissionCatalog, events?: readonly WebhookEventType[]): string[] {
  const problems: string[] = [];
  const keys = new Set<string>();
  for (const entry of CATALOGUE) {
    if (keys.has(entry.key)) problems.push(`${entry.key}: listed twice`);
    keys.add(entry.key);
    if (entry.permissions.length === 0) problems.push(`${entry.key}: declares no permission`);
    for (const p of entry.permissions) if (!permissions.has(p)) problems.push(`${entry.key}: ${p} is not a catalogued permission`);
    if (!events) continue;
    for (const type of entry.events) {
      const declared = events.find((e) => e.type === type);
      if (!declared) problems.push(`${entry.key}: event type ${type} is declared by no module`);
      else if (!entry.permissions.includes(declared.permission)) problems.push(`${entry.key}: event ${type} needs ${declared.permission}, which it does not declare`);
    }
  }
  return problems;
}

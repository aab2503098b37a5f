import type { PermissionCatalog } from '../access/catalog.ts';

/** An event type tenants may subscribe webhook endpoints to (a module declares it in its manifest). */
export interface WebhookEventType {
  /** `<area>.<noun>.<verb>`-like, e.g. `knowledge.entry.created`. */
  type: string;
  description: string;
  /** The permission a tenant member needs to subscribe to it (what a reader of the payload could otherwise read). */
  permission: string;
}

const TYPE = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){1,4}$/;

export class WebhookCatalogError extends Error {
  readonly code = 'ERR_WEBHOOK_EVENT_CATALOG';
}

/**
 * The catalogue of every composed module's webhook events. A type is declared
 * once, and its permission must be catalogued: a subscription is checked against
 * it, so a typo would make an event nobody — or everybody — may receive.
 */
export function webhookEventCatalogue(
  modules: ReadonlyArray<{ name: string; webhookEvents?: readonly WebhookEventType[] | undefined }>,
  permissions: PermissionCatalog,
): readonly WebhookEventType[] {
  const seen = new Map<string, string>();
  const out: WebhookEventType[] = [];
  for (const m of modules) {
    for (const e of m.webhookEvents ?? []) {
      if (!TYPE.test(e.type) || e.type.length > 100) throw new WebhookCatalogError(`module ${m.name}: webhook event "${e.type}" is not of the form area.noun[.verb]`);
      const clash = seen.get(e.type);
      if (clash) throw new WebhookCatalogError(`webhook event ${e.type} is declared by both ${clash} and ${m.name}`);
      if (!permissions.has(e.permission)) throw new WebhookCatalogError(`module ${m.name}: webhook event ${e.type} requires ${e.permission}, which no module declares`);
      if (!e.description.trim()) throw new WebhookCatalogError(`module ${m.name}: webhook event ${e.type} needs a description`);
      seen.set(e.type, m.name);
      out.push({ type: e.type, description: e.description, permission: e.permission });
    }
  }
  return out.sort((a, b) => a.type.localeCompare(b.type));
}

import { Type } from '@fastify/type-provider-typebox';
import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { eraseContactSubject, exportContactSubject } from './contacts.ts';
import { subscribeBounces } from './bounces.ts';
import { registerDeliveryJobs } from './delivery.ts';
import { KEY_CELL } from './keys.ts';
import { outreachPublicRoutes } from './public-routes.ts';
import { outreachRoutes } from './routes.ts';
import { outreachServiceOf } from './service.ts';

/** Outreach (issue #15 §1, §2, §6): contacts and consent, the suppression list, campaigns and their sends. */
export const outreachModule = defineModule({
  name: 'outreach',
  description: 'Contacts with consent, suppression list, campaigns sent by SMTP with RFC 8058 unsubscribe',
  api: { prefix: '/outreach', plugin: outreachRoutes },
  publicRoutes: outreachPublicRoutes,
  permissions: [
    { key: 'outreach:read', description: 'Read contacts (personal data), suppressions, settings, campaigns and sends', grantedTo: ['member', 'admin'] },
    { key: 'outreach:write', description: 'Add contacts and suppressions, create and edit campaigns', grantedTo: ['member', 'admin'] },
    { key: 'outreach:send', description: 'Send a campaign to its recipients', grantedTo: ['admin'] },
    { key: 'outreach:manage', description: 'Change outreach settings, erase contacts, lift manual suppressions', grantedTo: ['admin'] },
  ],
  tables: [
    { name: 'outreach_keys', onTenantErasure: 'erase' },
    { name: 'outreach_settings', onTenantErasure: 'erase' },
    { name: 'outreach_contacts', onTenantErasure: 'erase' },
    { name: 'outreach_suppressions', onTenantErasure: 'erase' },
    { name: 'outreach_campaigns', onTenantErasure: 'erase' },
    { name: 'outreach_sends', onTenantErasure: 'erase' },
  ],
  sealedColumns: [{ ...KEY_CELL, idColumn: 'id', idType: 'uuid', scope: 'tenant', owner: 'modules/outreach' }],
  auditEvents: [
    'outreach.settings_updated', 'outreach.contact_created', 'outreach.contact_confirmed', 'outreach.contact_erased',
    'outreach.suppressed', 'outreach.suppression_lifted', 'outreach.unsubscribed',
    'outreach.campaign_sent', 'outreach.send', 'outreach.send_refused',
  ],
  webhookEvents: [
    { type: 'outreach.campaign.sent', description: 'A campaign started sending (version, recipient count; never the recipients)', permission: 'outreach:read' },
    { type: 'outreach.address.bounced', description: 'A reported bounce or complaint suppressed an address (the address, the reason)', permission: 'outreach:read' },
  ],
  async jobs(platform) {
    await registerDeliveryJobs(platform);
    // Bounces and complaints arriving at the tenant's inbound receivers suppress (webhooks module's bus).
    subscribeBounces(platform);
  },
  // What the approvals module may execute: always high risk (a campaign may reach many people and leaves
  // the tenant), run as the approver, who must hold outreach:send (sendCampaign checks it again).
  actions: [{
    type: 'outreach.campaign.send',
    description: 'Send an outreach campaign to its consented, unsuppressed recipients',
    permission: 'outreach:send',
    risk: () => 'high',
    payloadSchema: Type.Object({ campaignId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
    summarize: (p: { campaignId: string }) => `send campaign ${p.campaignId}`,
    async validate(platform, principal, p: { campaignId: string }) {
      await outreachServiceOf(platform).campaigns.get(principal, p.campaignId);
    },
    async execute(platform, principal, p: { campaignId: string }, approvalId) {
      const c = await outreachServiceOf(platform).sendCampaign(principal, p.campaignId, { approvalId });
      return { campaignId: c.id, status: c.status, queued: c.counts.queued };
    },
  }],
  async eraseTenant(tx, tenantId) {
    const counts: Record<string, number> = {};
    for (const table of ['outreach_sends', 'outreach_campaigns', 'outreach_contacts', 'outreach_suppressions', 'outreach_settings', 'outreach_keys'] as const) {
      counts[table] = (await tx.query(sql`DELETE FROM ${sql.identifier(table)} WHERE tenant_id = ${tenantId} RETURNING tenant_id`)).length;
    }
    return counts;
  },
  exportSubject: exportContactSubject,
  eraseSubject: eraseContactSubject,
});

import type { Platform } from '../../kernel/platform.ts';
import { createCampaignsService } from './campaigns.ts';
import { createContactsService } from './contacts.ts';
import { createSettingsService } from './settings.ts';
import { createSuppressionsService } from './suppressions.ts';

export type OutreachService = ReturnType<typeof createOutreachService>;

/**
 * The outreach service: what routes call and what other modules may call
 * (nobody else touches outreach tables).
 * - `suppress(tenantId, address, reason)`: for the webhooks module's inbound
 *   receivers (bounces, complaints).
 * - `sendCampaign(principal, campaignId, { approvalId? })`: for the approvals
 *   module, which executes an approved send as the approving principal.
 */
function createOutreachService(platform: Platform) {
  const contacts = createContactsService(platform);
  const suppressions = createSuppressionsService(platform);
  const settings = createSettingsService(platform);
  const campaigns = createCampaignsService(platform);
  return {
    campaigns,
    contacts,
    suppressions,
    settings,
    suppress: suppressions.suppress,
    suppressWithin: suppressions.suppressWithin,
    sendCampaign: campaigns.sendCampaign,
  };
}

const services = new WeakMap<Platform, OutreachService>();

/** One service per platform, shared by the routes, the jobs and other modules. */
export function outreachServiceOf(platform: Platform): OutreachService {
  let s = services.get(platform);
  if (!s) services.set(platform, (s = createOutreachService(platform)));
  return s;
}

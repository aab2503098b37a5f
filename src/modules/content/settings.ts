import { sql } from 'drizzle-orm';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import type { Platform } from '../../kernel/platform.ts';

export interface ContentSettings {
  piiPolicy: 'redact' | 'refuse';
  storePrompts: boolean;
  storeOutputs: boolean;
  blockedTerms: string[];
  requiredDisclaimer: string | null;
  dailyTokenQuota: number;
  phoneRegion: string | null;
}

interface SettingsRow {
  pii_policy: 'redact' | 'refuse';
  store_prompts: boolean;
  store_outputs: boolean;
  blocked_terms: string[];
  required_disclaimer: string | null;
  daily_token_quota: number;
  phone_region: string | null;
}

/** A tenant that never saved settings gets the safe defaults: redact, store nothing, 200 000 tokens a day. */
export const DEFAULT_SETTINGS: ContentSettings = {
  piiPolicy: 'redact', storePrompts: false, storeOutputs: false, blockedTerms: [], requiredDisclaimer: null, dailyTokenQuota: 200_000, phoneRegion: null,
};

const view = (r: SettingsRow | undefined): ContentSettings => r ? {
  piiPolicy: r.pii_policy,
  storePrompts: r.store_prompts,
  storeOutputs: r.store_outputs,
  blockedTerms: r.blocked_terms,
  requiredDisclaimer: r.required_disclaimer,
  dailyTokenQuota: r.daily_token_quota,
  phoneRegion: r.phone_region,
} : { ...DEFAULT_SETTINGS, blockedTerms: [] };

const columns = sql`pii_policy, store_prompts, store_outputs, blocked_terms, required_disclaimer, daily_token_quota, phone_region`;

export function createSettingsService(platform: Platform) {
  return {
    async get(tenantId: string): Promise<ContentSettings> {
      const [row] = await platform.queryAsTenant<SettingsRow>({ tenantId }, sql`SELECT ${columns} FROM content_settings`);
      return view(row);
    },

    async update(principal: Principal, patch: Partial<ContentSettings>): Promise<ContentSettings> {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [current] = await tx.query<SettingsRow>(sql`SELECT ${columns} FROM content_settings FOR UPDATE`);
        const next = { ...view(current), ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) } as ContentSettings;
        const [row] = await tx.query<SettingsRow>(sql`
          INSERT INTO content_settings (tenant_id, pii_policy, store_prompts, store_outputs, blocked_terms, required_disclaimer, daily_token_quota, phone_region)
          VALUES (${principal.tenantId}, ${next.piiPolicy}, ${next.storePrompts}, ${next.storeOutputs}, ${sql.param(next.blockedTerms)}::text[],
                  ${next.requiredDisclaimer}, ${next.dailyTokenQuota}, ${next.phoneRegion})
          ON CONFLICT (tenant_id) DO UPDATE SET pii_policy = excluded.pii_policy, store_prompts = excluded.store_prompts,
            store_outputs = excluded.store_outputs, blocked_terms = excluded.blocked_terms, required_disclaimer = excluded.required_disclaimer,
            daily_token_quota = excluded.daily_token_quota, phone_region = excluded.phone_region, updated_at = now()
          RETURNING ${columns}`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'content.settings_updated',
          target: { type: 'content_settings', id: principal.tenantId }, outcome: 'success',
          metadata: { fields: Object.keys(patch).sort(), piiPolicy: next.piiPolicy, storePrompts: next.storePrompts, storeOutputs: next.storeOutputs, dailyTokenQuota: next.dailyTokenQuota },
        });
        return view(row);
      });
    },
  };
}

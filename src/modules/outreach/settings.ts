import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import type { Platform } from '../../kernel/platform.ts';

export interface SettingsRow {
  postal_address: string | null;
  double_opt_in: boolean;
  rate_per_minute: number;
  from_address: string | null;
  smtp_connector_id: string | null;
  updated_at: Date | null;
}

const DEFAULTS: SettingsRow = { postal_address: null, double_opt_in: false, rate_per_minute: 60, from_address: null, smtp_connector_id: null, updated_at: null };

export const settingsView = (r: SettingsRow) => ({
  postalAddress: r.postal_address,
  doubleOptIn: r.double_opt_in,
  ratePerMinute: r.rate_per_minute,
  fromAddress: r.from_address,
  smtpConnectorId: r.smtp_connector_id,
  updatedAt: r.updated_at ? new Date(r.updated_at).toISOString() : null,
});

/** The tenant's settings in the caller's transaction; defaults when none were saved. */
export async function readSettings(tx: Session): Promise<SettingsRow> {
  const [row] = await tx.query<SettingsRow>(sql`
    SELECT postal_address, double_opt_in, rate_per_minute, from_address, smtp_connector_id, updated_at FROM outreach_settings`);
  return row ?? DEFAULTS;
}

export interface SettingsInput {
  postalAddress?: string | null | undefined;
  doubleOptIn?: boolean | undefined;
  ratePerMinute?: number | undefined;
  fromAddress?: string | null | undefined;
  smtpConnectorId?: string | null | undefined;
}

export function createSettingsService(platform: Platform) {
  return {
    get: (principal: Principal) => platform.withTenant(contextOf(principal), async (tx) => settingsView(await readSettings(tx))),

    /** The connector id is checked when a send opens it (connectors/secret-use.ts): that module owns the table. */
    async update(principal: Principal, input: SettingsInput) {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const set = <T>(v: T | undefined) => (v === undefined ? sql`DEFAULT` : sql`${v}`);
        const keep = (column: string, v: unknown) => (v === undefined ? sql.raw(`outreach_settings.${column}`) : sql`EXCLUDED.${sql.raw(column)}`);
        const [row] = await tx.query<SettingsRow>(sql`
          INSERT INTO outreach_settings (tenant_id, postal_address, double_opt_in, rate_per_minute, from_address, smtp_connector_id, updated_by, updated_at)
          VALUES (${principal.tenantId}, ${input.postalAddress ?? null}, ${set(input.doubleOptIn)}, ${set(input.ratePerMinute)},
                  ${input.fromAddress ?? null}, ${input.smtpConnectorId?.toLowerCase() ?? null}, ${principal.userId}, now())
          ON CONFLICT (tenant_id) DO UPDATE SET
            postal_address = ${keep('postal_address', input.postalAddress)},
            double_opt_in = ${keep('double_opt_in', input.doubleOptIn)},
            rate_per_minute = ${keep('rate_per_minute', input.ratePerMinute)},
            from_address = ${keep('from_address', input.fromAddress)},
            smtp_connector_id = ${keep('smtp_connector_id', input.smtpConnectorId)},
            updated_by = EXCLUDED.updated_by, updated_at = now()
          RETURNING postal_address, double_opt_in, rate_per_minute, from_address, smtp_connector_id, updated_at`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'outreach.settings_updated',
          target: { type: 'outreach_settings' }, outcome: 'success', metadata: { fields: Object.keys(input).sort() },
        });
        return settingsView(row!);
      });
    },
  };
}

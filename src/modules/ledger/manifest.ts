import { defineModule } from '../manifest.ts';
import { expireDuePending } from './expiry.ts';
import { ledgerRoutes } from './routes.ts';
import { TRANSFER_ACTIONS } from './transfer-record.ts';

const financial = 'financial records: append-only by design (issue #12), kept for statutory retention, and each transfer is a leaf counterparties may still verify after the tenant is gone; no personal data column';

/** Double-entry ledger: immutable, idempotent, two-phase, every transfer provable from its tenant's log (issue #12, docs/ledger.md). */
export const ledgerModule = defineModule({
  name: 'ledger',
  description: 'Double-entry ledger: accounts, idempotent transfers, linked chains, two-phase transfers, inclusion proofs',
  api: { prefix: '/ledger', plugin: ledgerRoutes },
  permissions: [
    { key: 'ledger:read', description: 'Read ledger accounts, balances, transfers and their inclusion proofs', grantedTo: ['admin'] },
    { key: 'ledger:write', description: 'Open and close ledger accounts and post transfers (also for API keys doing machine postings)', grantedTo: [] },
  ],
  tables: [
    { name: 'ledger_accounts', onTenantErasure: { retain: financial } },
    { name: 'ledger_account_closures', onTenantErasure: { retain: financial } },
    { name: 'ledger_balances', onTenantErasure: { retain: financial } },
    { name: 'ledger_transfers', onTenantErasure: { retain: financial } },
    { name: 'ledger_entries', onTenantErasure: { retain: financial } },
  ],
  auditEvents: ['ledger.account.created', 'ledger.account.closed', ...TRANSFER_ACTIONS],
  webhookEvents: [
    { type: 'ledger.transfer.created', description: 'A transfer was recorded (posted, pending, or the posting, voiding or expiry of a pending one)', permission: 'ledger:read' },
  ],
  schedules: [
    {
      name: 'ledger.pending.expire',
      cron: '* * * * *',
      description: 'expire pending ledger transfers past their timeout (an expire_pending transfer each, logged like any other)',
      handler: (platform) => async () => {
        await expireDuePending(platform as Parameters<typeof expireDuePending>[0]);
      },
    },
  ],
});

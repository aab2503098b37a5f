import { apiKeysPage } from './api-keys.ts';
import { sessionsPage } from './account.ts';
import { auditPage } from './audit.ts';
import { membersPage } from './members.ts';
import { keysPage } from './keys.ts';
import * as M from './modules.ts';
import { overviewPage } from './overview.ts';
import { rolesPage } from './roles.ts';

export interface Page {
  id: string;
  title: string;
  /** The permission that shows the page (from GET /api/v1/me); the API checks it again on every call. */
  permission: string;
  render: (root: HTMLElement, reload: () => void) => Promise<void>;
}

export const pages: Page[] = [
  { id: 'overview', title: 'Security overview', permission: 'audit:read', render: overviewPage },
  { id: 'members', title: 'Members & invitations', permission: 'members:read', render: membersPage },
  { id: 'roles', title: 'Roles', permission: 'members:read', render: rolesPage },
  { id: 'api-keys', title: 'API keys', permission: 'apikeys:manage', render: apiKeysPage },
  { id: 'sessions', title: 'Sessions & MFA', permission: 'session', render: sessionsPage },
  { id: 'audit', title: 'Audit events', permission: 'audit:read', render: auditPage },
  { id: 'keys', title: 'Key status', permission: 'audit:read', render: keysPage },
  { id: 'connectors', title: 'Connectors', permission: 'connectors:read', render: M.connectorsPage },
  { id: 'dead-letters', title: 'Dead letters', permission: 'jobs:manage', render: M.deadLettersPage },
  { id: 'approvals', title: 'Approvals', permission: 'approvals:read', render: M.approvalsPage },
  { id: 'tasks', title: 'Tasks to verify', permission: 'tasks:verify', render: M.tasksPage },
  { id: 'ledger', title: 'Ledger', permission: 'ledger:read', render: M.ledgerPage },
  { id: 'webhooks', title: 'Webhooks', permission: 'webhooks:read', render: M.webhooksPage },
  { id: 'chat-reports', title: 'Chat moderation', permission: 'chat:moderate', render: M.chatReportsPage },
  { id: 'outreach', title: 'Outreach', permission: 'outreach:read', render: M.outreachPage },
  { id: 'marketplace', title: 'Marketplace', permission: 'marketplace:read', render: M.marketplacePage },
  { id: 'knowledge', title: 'Knowledge', permission: 'knowledge:read', render: M.knowledgePage },
];

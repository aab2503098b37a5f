import { api } from '../api.ts';
import { h } from '../dom.ts';
import { askReason } from '../prompt.ts';
import { listSection, renderDetails, type ListSpec } from './list.ts';

type Render = (root: HTMLElement, reload: () => void) => Promise<void>;
const lists = (...specs: ListSpec[]): Render => async (root, reload) => {
  for (const spec of specs) root.append(await listSection(spec, reload));
};
const caps = (row: Record<string, unknown>, action: string) => Array.isArray(row.capabilities) && row.capabilities.includes(action);

/** Connectors: metadata only — the API never returns their secrets, and neither does this page. */
export const connectorsPage = lists({ title: 'Connectors', path: '/connectors', actions: [
  { label: 'Delete', permission: 'connectors:manage', run: (r) => api('DELETE', `/connectors/${r.id}`) },
] });

export const deadLettersPage = lists({ title: 'Dead letters', path: '/jobs/dead-letters', actions: [
  { label: 'Retry', permission: 'jobs:manage', run: (r) => api('POST', `/jobs/dead-letters/${r.id}/retry`) },
  { label: 'Discard', permission: 'jobs:manage', run: (r) => api('POST', `/jobs/dead-letters/${r.id}/discard`) },
] });

export const approvalsPage = lists({ title: 'Approvals', path: '/approvals?status=pending', actions: [
  { label: 'Approve', permission: 'approvals:decide', run: (r) => api('POST', `/approvals/${r.id}/approve`, {}) },
  { label: 'Reject', permission: 'approvals:decide', run: (r) => api('POST', `/approvals/${r.id}/reject`, {}) },
] });

export const ledgerPage = lists(
  { title: 'Ledger accounts', path: '/ledger/accounts' },
  { title: 'Transfers', path: '/ledger/transfers', details: async (r) => renderDetails(`Proof of transfer ${r.id}`, await api('GET', `/ledger/transfers/${r.id}/proof`)) },
);

export const webhooksPage = lists(
  { title: 'Webhook endpoints', path: '/webhooks/endpoints', actions: [
    { label: 'Send test', permission: 'webhooks:manage', run: (r) => api('POST', `/webhooks/endpoints/${r.id}/test`) },
  ] },
  { title: 'Delivery log', path: '/webhooks/deliveries' },
);

export const chatReportsPage: Render = async (root, reload) => {
  root.append(await listSection({
    title: 'Chat moderation reports', path: '/chat/reports',
    columns: [
      { label: 'Reported', value: (r) => new Date(String(r.createdAt)).toLocaleString() },
      { label: 'Reason', value: (r) => r.reason },
      { label: 'Status', value: (r) => r.status },
      { label: 'Message', value: (r) => h('span', { class: 'message-text' }, String((r.message as { text: string }).text)) },
      { label: 'State', value: (r) => (r.message as { state: string }).state },
    ],
    actions: [
      { label: 'Hide', permission: 'chat:moderate', run: async (r) => { const reason = await askReason('Why hide it?'); if (reason) await api('POST', `/chat/messages/${r.messageId}/hide`, { reason }); } },
      { label: 'Delete', permission: 'chat:moderate', run: async (r) => { const reason = await askReason('Why delete it?'); if (reason) await api('POST', `/chat/messages/${r.messageId}/delete`, { reason }); } },
    ],
  }, reload));
};

export const outreachPage = lists({ title: 'Suppressions', path: '/outreach/suppressions', actions: [
  { label: 'Remove', permission: 'outreach:manage', run: (r) => api('DELETE', `/outreach/suppressions/${r.id}`) },
] }, { title: 'Send log', path: '/outreach/sends' });

/** Tasks to verify: the buttons follow each task's `capabilities` from the API (four-eyes included). */
export const tasksPage = lists({ title: 'Tasks to verify', path: '/tasks?status=completed', actions: [
  { label: 'Verify', permission: 'tasks:verify', when: (r) => caps(r, 'verify'), run: (r) => api('POST', `/tasks/${r.id}/verify`) },
  { label: 'Reject', permission: 'tasks:verify', when: (r) => caps(r, 'reject'), run: async (r) => { const reason = await askReason('What is missing?'); if (reason) await api('POST', `/tasks/${r.id}/reject`, { reason }); } },
] });

export const marketplacePage = lists({ title: 'Marketplace installs', path: '/marketplace/installs', actions: [
  { label: 'Uninstall', permission: 'marketplace:manage', run: (r) => api('DELETE', `/marketplace/installs/${r.id}`) },
] });

export const knowledgePage: Render = async (root, reload) => {
  root.append(await listSection({ title: 'Knowledge', path: '/knowledge', skip: ['body', 'html'],
    columns: [
      { label: 'Title', value: (r) => h('span', { class: 'knowledge-title' }, String(r.title)) },
      { label: 'Updated', value: (r) => r.updatedAt ?? r.createdAt },
    ] }, reload));
};

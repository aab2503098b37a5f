import { api } from '../api.ts';
import { h, svg } from '../dom.ts';
import { session } from '../session.ts';
import { section } from '../ui.ts';
import { logStatus, type AuditEvent } from './audit.ts';
import { checkpointKeysTable, dataKeysSection, type DataKeys, type KeyHistory } from './keys.ts';

type Count = 'signIns' | 'signInFailures' | 'deniedRequests' | 'exports' | 'adminActions' | 'throttledAttempts';
interface Report { days: number; series: Array<{ date: string } & Record<Count, number>>; totals: Record<Count, number> }

const SERIES: Array<{ key: Count; label: string }> = [
  { key: 'signIns', label: 'Sign-ins' },
  { key: 'signInFailures', label: 'Failed sign-ins' },
  { key: 'deniedRequests', label: 'Denied requests' },
  { key: 'exports', label: 'Exports' },
  { key: 'adminActions', label: 'Admin actions' },
  { key: 'throttledAttempts', label: 'Throttled attempts' },
];

/** A bar chart as SVG attributes (no inline style, so the CSP holds). */
function chart(key: string, label: string, days: string[], counts: number[]): HTMLElement {
  const max = Math.max(1, ...counts);
  const w = 36;
  const height = 100;
  const bars = counts.flatMap((c, i) => [
    svg('rect', { x: i * w + 4, y: height - (c / max) * height + 16, width: w - 8, height: (c / max) * height, class: 'bar' }, svg('title', {}, `${days[i]}: ${c}`)),
    svg('text', { x: i * w + w / 2, y: 12, 'text-anchor': 'middle', class: 'count' }, c),
    svg('text', { x: i * w + w / 2, y: height + 30, 'text-anchor': 'middle', class: 'day' }, days[i]!.slice(5)),
  ]);
  return h('figure', { class: 'chart', 'data-series': key }, svg('svg', { viewBox: `0 0 ${w * counts.length} ${height + 34}`, role: 'img', 'aria-label': label }, ...bars),
    h('figcaption', {}, `${label}: ${counts.reduce((a, b) => a + b, 0)}`));
}

/**
 * The weekly security report per day (GET /audit/report, counted by the server from the tenant's
 * log), the log verified in the browser, and the state of the checkpoint and data keys.
 */
export async function overviewPage(root: HTMLElement): Promise<void> {
  const [report, newest, history, data] = await Promise.all([
    api<Report>('GET', '/audit/report?days=7'),
    api<{ items: AuditEvent[] }>('GET', '/audit-events?limit=1'),
    api<KeyHistory>('GET', '/translog/key-history'),
    session.can('keys:read') ? api<DataKeys>('GET', '/tenant/keys') : Promise.resolve(null),
  ]);
  const days = report.series.map((d) => d.date);
  root.append(section(`Security overview — last ${report.days} days (UTC)`,
    h('div', { class: 'charts' }, ...SERIES.map((s) => chart(s.key, s.label, days, report.series.map((d) => d[s.key]))))));
  root.append(section('Log and checkpoint keys', await logStatus(newest.items[0]), checkpointKeysTable(history)));
  if (data) root.append(dataKeysSection(data));
}

import { api, query } from '../api.ts';
import { h, svg } from '../dom.ts';
import { section, table } from '../ui.ts';
import { logStatus, type AuditEvent } from './audit.ts';

const SERIES = [
  { key: 'signIns', label: 'Sign-ins', match: (e: AuditEvent) => e.action === 'auth.login' && e.outcome === 'success' },
  { key: 'failures', label: 'Failed sign-ins', match: (e: AuditEvent) => (e.action === 'auth.login' || e.action === 'auth.mfa_verified') && e.outcome === 'failure' },
  { key: 'denied', label: 'Denied requests', match: (e: AuditEvent) => e.action === 'access.denied' },
  { key: 'exports', label: 'Exports', match: (e: AuditEvent) => e.action === 'audit.exported' || e.action.endsWith('.exported') },
] as const;
const MAX_EVENTS = 2000;

/** A bar chart as SVG attributes (no inline style, so the CSP holds). */
function chart(label: string, days: string[], counts: number[]): HTMLElement {
  const max = Math.max(1, ...counts);
  const w = 36;
  const height = 100;
  const bars = counts.flatMap((c, i) => [
    svg('rect', { x: i * w + 4, y: height - (c / max) * height + 16, width: w - 8, height: (c / max) * height, class: 'bar' }, svg('title', {}, `${days[i]}: ${c}`)),
    svg('text', { x: i * w + w / 2, y: 12, 'text-anchor': 'middle', class: 'count' }, c),
    svg('text', { x: i * w + w / 2, y: height + 30, 'text-anchor': 'middle', class: 'day' }, days[i]!.slice(5)),
  ]);
  return h('figure', { class: 'chart' }, svg('svg', { viewBox: `0 0 ${w * counts.length} ${height + 34}`, role: 'img', 'aria-label': label }, ...bars), h('figcaption', {}, `${label}: ${counts.reduce((a, b) => a + b, 0)}`));
}

/**
 * The weekly security report per day, counted in the browser from the audit
 * events of the last 7 days with the definitions of `ocsuite access-log report`.
 */
export async function overviewPage(root: HTMLElement): Promise<void> {
  const since = new Date(Date.now() - 7 * 86_400_000);
  const days = Array.from({ length: 7 }, (_, i) => new Date(since.getTime() + (i + 1) * 86_400_000).toISOString().slice(0, 10));
  const events: AuditEvent[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: AuditEvent[]; nextCursor: string | null } = await api('GET', `/audit-events${query({ since: since.toISOString(), limit: 200, cursor })}`);
    events.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && events.length < MAX_EVENTS);
  const counts = (match: (e: AuditEvent) => boolean) => days.map((d) => events.filter((e) => e.occurredAt.slice(0, 10) === d && match(e)).length);
  root.append(section('Security overview — last 7 days',
    h('div', { class: 'charts' }, ...SERIES.map((s) => chart(s.label, days, counts(s.match)))),
    events.length >= MAX_EVENTS ? h('p', {}, `Counted from the newest ${MAX_EVENTS} events only.`) : null));
  const keys = await api<{ keys: Array<{ keyId: string; validFrom: string; validUntil: string | null; lastSizes?: Record<string, number> }> }>('GET', '/translog/key-history');
  root.append(section('Log and keys', await logStatus(events[0]), table(keys.keys, [
    { label: 'Checkpoint key', value: (k) => k.keyId },
    { label: 'State', value: (k) => (k.validUntil ? 'retired' : 'active') },
    { label: 'Valid from', value: (k) => new Date(k.validFrom).toLocaleString() },
    { label: 'Valid until', value: (k) => (k.validUntil ? new Date(k.validUntil).toLocaleString() : null) },
    { label: 'Last sizes signed', value: (k) => k.lastSizes ?? null },
  ])));
}

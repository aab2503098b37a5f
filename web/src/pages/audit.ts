import { api, query } from '../api.ts';
import { h } from '../dom.ts';
import { session } from '../session.ts';
import { button, download, errorText, field, form, input, section, select, table } from '../ui.ts';
import { verifyCheckpoint, verifyInclusion } from '../verify.ts';

export interface AuditEvent {
  id: string; leafIndex: number; leafHash: string; occurredAt: string; action: string; outcome: string; reason: string | null;
  actor: { type: string; id: string | null }; target: { type: string; id: string | null } | null; metadata: Record<string, unknown>;
}
interface Checkpoint { origin: string; size: number; rootHash: string; checkpoint: string }
interface VerifierKey { keyName: string; keyId: string; verifierKey: string; originTemplate: string }

/** The log's state, verified here with the public key: signature, origin, and the newest event's inclusion. */
export async function logStatus(newest?: AuditEvent): Promise<HTMLElement> {
  const box = h('div', { class: 'verification', 'data-state': 'checking' }, 'Verifying the log…');
  try {
    const [cp, key] = await Promise.all([api<Checkpoint>('GET', '/translog/checkpoint'), api<VerifierKey>('GET', '/translog/key')]);
    const origin = key.originTemplate.replace('{tenantId}', session.me!.tenant.id);
    const parsed = await verifyCheckpoint(cp.checkpoint, key.verifierKey, origin);
    let inclusion = 'no event to prove';
    if (newest && newest.leafIndex < parsed.size) {
      const proof = await api<{ index: number; size: number; leafHash: string; proof: string[] }>('GET', `/translog/proof/inclusion${query({ eventId: newest.id, size: parsed.size })}`);
      const ok = proof.leafHash === newest.leafHash && (await verifyInclusion(proof.index, proof.size, proof.leafHash, proof.proof, parsed.root));
      if (!ok) throw new Error(`the inclusion proof of event ${newest.id} does not match the checkpoint`);
      inclusion = `event #${newest.leafIndex} (${newest.action}) proven included`;
    } else if (newest) {
      inclusion = `event #${newest.leafIndex} is newer than the checkpoint (checkpoints follow within a minute)`;
    }
    box.dataset.state = 'verified';
    box.replaceChildren(h('strong', {}, 'Log verified in this browser'),
      h('dl', {},
        h('dt', {}, 'Origin'), h('dd', {}, parsed.origin),
        h('dt', {}, 'Size'), h('dd', { class: 'log-size' }, parsed.size),
        h('dt', {}, 'Root'), h('dd', {}, h('code', {}, cp.rootHash)),
        h('dt', {}, 'Key'), h('dd', {}, `${key.keyName} (${key.keyId})`),
        h('dt', {}, 'Inclusion'), h('dd', {}, inclusion)));
  } catch (e) {
    box.dataset.state = 'failed';
    box.replaceChildren(h('strong', {}, 'Log NOT verified: '), errorText(e));
  }
  return box;
}

export async function auditPage(root: HTMLElement): Promise<void> {
  const results = h('div', {});
  const status = h('div', {});
  let filters: Record<string, string> = {};
  const load = async (cursor?: string) => {
    const page = await api<{ items: AuditEvent[]; nextCursor: string | null }>('GET', `/audit-events${query({ ...filters, limit: 50, cursor })}`);
    results.replaceChildren(table(page.items, [
      { label: 'When', value: (e) => new Date(e.occurredAt).toLocaleString() },
      { label: 'Action', value: (e) => e.action },
      { label: 'Outcome', value: (e) => e.outcome },
      { label: 'Actor', value: (e) => `${e.actor.type}${e.actor.id ? ` ${e.actor.id}` : ''}` },
      { label: 'Target', value: (e) => (e.target ? `${e.target.type} ${e.target.id ?? ''}` : null) },
      { label: 'Reason', value: (e) => e.reason },
      { label: '#', value: (e) => e.leafIndex },
    ], 'No events match.'), ...(page.nextCursor ? [button('Older events', () => load(page.nextCursor!))] : []));
    if (!cursor) status.replaceChildren(await logStatus(page.items[0]));
  };
  const fields = [
    field('Action', input('action', { placeholder: 'auth.* or role.created', pattern: '[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*(\\.\\*)?' })),
    field('Outcome', select('outcome', [{ value: '', label: 'any' }, 'success', 'failure'])),
    field('Actor type', select('actorType', [{ value: '', label: 'any' }, 'user', 'api_key', 'operator', 'system'])),
    field('Since', input('since', { type: 'datetime-local' })),
    field('Until', input('until', { type: 'datetime-local' })),
  ];
  const read = (data: FormData) => {
    const out: Record<string, string> = {};
    for (const [k, v] of data.entries()) {
      if (typeof v !== 'string' || v === '') continue;
      out[k] = k === 'since' || k === 'until' ? new Date(v).toISOString() : v;
    }
    return out;
  };
  root.append(section('Log verification', status));
  root.append(section('Audit events', form(fields, 'Filter', async (data) => {
    filters = read(data);
    await load();
    return 'Filtered.';
  }, { class: 'filters' }), session.can('audit:export') ? h('div', { class: 'row' },
    button('Export CSV', async () => download(await api<Blob>('GET', `/audit-events/export${query({ ...filters, format: 'csv' })}`, undefined, { raw: true }), 'audit-events.csv')),
    button('Export JSONL', async () => download(await api<Blob>('GET', `/audit-events/export${query({ ...filters, format: 'jsonl' })}`, undefined, { raw: true }), 'audit-events.jsonl'))) : null, results));
  await load();
}

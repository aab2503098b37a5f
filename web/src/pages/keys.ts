import { api } from '../api.ts';
import { h } from '../dom.ts';
import { session } from '../session.ts';
import { section, table } from '../ui.ts';
import { renderDetails } from './list.ts';

export interface DataKeys { keys: Array<{ version: number; state: string; createdAt: string; destroyedAt: string | null }>; activeVersion: number | null; rotationInProgress: boolean }
export interface KeyHistory { keys: Array<{ keyId: string; verifierKey: string; validFrom: string; validUntil: string | null; lastSizes?: Record<string, number> }> }

/** The tenant's data-key versions (GET /tenant/keys): state and dates only, the API never sends key material. */
export function dataKeysSection(status: DataKeys): HTMLElement {
  const summary = status.activeVersion === null
    ? 'No data key yet: it is created when the first secret of the tenant is sealed.'
    : `Secrets are sealed with data key version ${status.activeVersion}.${status.rotationInProgress ? ' A rotation is in progress (an older version still opens some values).' : ''}`;
  return section('Data keys', h('p', { class: 'data-key-summary' }, summary), table(status.keys, [
    { label: 'Version', value: (k) => k.version },
    { label: 'State', value: (k) => h('span', { class: `key-state key-${k.state}` }, k.state) },
    { label: 'Created', value: (k) => new Date(k.createdAt).toLocaleString() },
    { label: 'Destroyed', value: (k) => (k.destroyedAt ? new Date(k.destroyedAt).toLocaleString() : null) },
  ], 'No data key yet.'));
}

export function checkpointKeysTable(history: KeyHistory): HTMLElement {
  return table(history.keys, [
    { label: 'Checkpoint key', value: (k) => k.keyId },
    { label: 'State', value: (k) => (k.validUntil ? 'retired' : 'active') },
    { label: 'Valid from', value: (k) => new Date(k.validFrom).toLocaleString() },
    { label: 'Valid until', value: (k) => (k.validUntil ? new Date(k.validUntil).toLocaleString() : null) },
    { label: 'Last sizes signed', value: (k) => k.lastSizes ?? null },
  ]);
}

/** Key status: the checkpoint keys of the log (audit:read) and the tenant's data keys (keys:read). */
export async function keysPage(root: HTMLElement): Promise<void> {
  const [current, history, data] = await Promise.all([
    api<{ keyName: string; keyId: string; verifierKey: string }>('GET', '/translog/key'),
    api<KeyHistory>('GET', '/translog/key-history'),
    session.can('keys:read') ? api<DataKeys>('GET', '/tenant/keys') : Promise.resolve(null),
  ]);
  if (data) root.append(dataKeysSection(data));
  root.append(section('Checkpoint keys',
    h('p', {}, `Checkpoints are signed with ${current.keyName} (${current.keyId}).`),
    h('p', {}, h('code', {}, current.verifierKey)),
    checkpointKeysTable(history),
    renderDetails('Verifier keys, oldest first', history.keys)));
}

import { api } from '../api.ts';
import { h } from '../dom.ts';
import { session } from '../session.ts';
import { autoColumns, button, field, form, input, section, table } from '../ui.ts';

interface ApiKey { id: string; name: string; [k: string]: unknown }

/** API keys: scopes only from the creator's own permissions; the secret is shown once (creation needs step-up). */
export async function apiKeysPage(root: HTMLElement, reload: () => void): Promise<void> {
  const { items } = await api<{ items: ApiKey[] }>('GET', '/api-keys');
  const { items: permissions } = session.can('members:read') ? await api<{ items: Array<{ key: string }> }>('GET', '/permissions') : { items: [] };
  root.append(section('API keys', table(items, [...autoColumns(items, ['id']), { label: '', value: (k) => button('Revoke', async () => { await api('DELETE', `/api-keys/${k.id}`); reload(); }, { class: 'danger' }) }])));
  const shown = h('div', { class: 'secret' });
  const scopes = permissions.filter((p) => p.key !== 'session').map((p) => h('label', { class: session.can(p.key) ? 'perm' : 'perm disabled' },
    h('input', { type: 'checkbox', name: 'scopes', value: p.key, disabled: !session.can(p.key) }), h('span', {}, p.key)));
  root.append(section('New API key', form([
    field('Name', input('name', { required: true, maxlength: '100' })),
    field('Expires in days', input('expiresInDays', { type: 'number', min: '1', max: '365' })),
    h('fieldset', { class: 'perms' }, h('legend', {}, 'Scopes'), ...scopes),
  ], 'Create key', async (data) => {
    const days = data.get('expiresInDays');
    const created = await api<{ key: string; name: string }>('POST', '/api-keys', { name: data.get('name'), scopes: data.getAll('scopes').map(String), ...(days ? { expiresInDays: Number(days) } : {}) });
    shown.replaceChildren(h('p', {}, 'The key, shown once — copy it now:'), h('code', { class: 'api-key-secret' }, created.key));
    return `Created ${created.name}.`;
  }), shown));
}

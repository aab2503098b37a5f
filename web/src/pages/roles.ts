import { api } from '../api.ts';
import { h } from '../dom.ts';
import { session } from '../session.ts';
import { button, field, form, input, section, table } from '../ui.ts';

interface Role { id: string; name: string; description: string; builtIn: boolean; permissions: string[]; members: number }
interface Permission { key: string; description: string; module: string }

/**
 * Custom roles. Anti-escalation is visible: a permission the editor does not
 * hold is a disabled checkbox, and the API refuses it (role-escalation) anyway.
 */
export async function rolesPage(root: HTMLElement, reload: () => void): Promise<void> {
  const [{ items: roles }, { items: permissions }] = await Promise.all([
    api<{ items: Role[] }>('GET', '/roles'),
    api<{ items: Permission[] }>('GET', '/permissions'),
  ]);
  const edit = session.can('roles:manage');
  root.append(section('Roles', table(roles, [
    { label: 'Name', value: (r) => r.name },
    { label: 'Kind', value: (r) => (r.builtIn ? 'built-in' : 'custom') },
    { label: 'Members', value: (r) => r.members },
    { label: 'Permissions', value: (r) => r.permissions.join(', ') },
    ...(edit ? [{ label: '', value: (r: Role) => (r.builtIn ? '' : button('Delete', async () => { await api('DELETE', `/roles/${r.id}`); reload(); }, { class: 'danger' })) }] : []),
  ])));
  if (!edit) return;

  const boxes = permissions.filter((p) => p.key !== 'session').map((p) => {
    const held = session.can(p.key);
    return h('label', { class: held ? 'perm' : 'perm disabled', title: held ? p.description : 'You do not hold this permission, so you cannot grant it.' },
      h('input', { type: 'checkbox', name: 'permissions', value: p.key, disabled: !held }),
      h('span', {}, p.key), held ? null : h('small', {}, ' (not yours to grant)'));
  });
  root.append(section('New custom role', form([
    field('Name', input('name', { required: true, maxlength: '63', pattern: '[A-Za-z0-9][A-Za-z0-9 _.\\-]*' })),
    field('Description', input('description', { maxlength: '500' })),
    h('fieldset', { class: 'perms' }, h('legend', {}, 'Permissions'), ...boxes),
  ], 'Create role', async (data) => {
    const chosen = data.getAll('permissions').map(String);
    const role = await api<Role>('POST', '/roles', { name: data.get('name'), description: data.get('description') || undefined, permissions: chosen });
    setTimeout(reload, 1500);
    return `Created role ${role.name}.`;
  }, { class: 'new-role' })));
}

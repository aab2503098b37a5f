import { api } from '../api.ts';
import { h } from '../dom.ts';
import { session } from '../session.ts';
import { button, field, form, input, section, select, table } from '../ui.ts';

interface Member { userId: string; email: string; displayName: string | null; role: string | null; roles: Array<{ id: string; name: string; builtIn: boolean }>; joinedAt: string }
interface Invitation { id: string; email: string; role: string; expiresAt: string; createdAt: string; acceptUrl?: string }
const BUILT_IN = ['owner', 'admin', 'member', 'viewer'];

export async function membersPage(root: HTMLElement, reload: () => void): Promise<void> {
  const { items } = await api<{ items: Member[] }>('GET', '/members');
  const manage = session.can('members:manage');
  root.append(section('Members', table(items, [
    { label: 'Name', value: (m) => m.displayName },
    { label: 'Email', value: (m) => m.email },
    { label: 'Roles', value: (m) => m.roles.map((r) => r.name).join(', ') },
    { label: 'Joined', value: (m) => new Date(m.joinedAt).toLocaleString() },
    ...(manage ? [{
      label: 'Actions',
      value: (m: Member) => {
        if (m.userId === session.me?.user.id) return 'you';
        const role = select('role', BUILT_IN, { 'aria-label': `Role of ${m.email}` });
        role.value = m.role ?? 'member';
        return h('div', { class: 'row' }, role,
          button('Change role', async () => { await api('PATCH', `/members/${m.userId}`, { role: role.value }); reload(); }),
          button('End sessions', () => api('DELETE', `/members/${m.userId}/sessions`)),
          button('Remove', async () => { await api('DELETE', `/members/${m.userId}`); reload(); }, { class: 'danger' }));
      },
    }] : []),
  ])));

  if (!session.can('invitations:manage')) return;
  const { items: invitations } = await api<{ items: Invitation[] }>('GET', '/invitations');
  // Only roles the inviter holds can be given (the API refuses others with role-escalation).
  const mine = session.me?.roles ?? [];
  const rank = (r: string) => BUILT_IN.indexOf(r);
  const best = Math.min(...mine.filter((r) => BUILT_IN.includes(r)).map(rank), BUILT_IN.length);
  const roleOptions = BUILT_IN.map((r) => ({ value: r, label: rank(r) < best ? `${r} (above your role)` : r, disabled: rank(r) < best }));
  const roleSelect = select('role', roleOptions);
  roleSelect.value = 'member';
  const link = h('p', { class: 'secret' });
  root.append(section('Invitations',
    form([field('Email', input('email', { type: 'email', required: true })), field('Role', roleSelect)], 'Invite', async (data) => {
      const created = await api<Invitation>('POST', '/invitations', { email: data.get('email'), role: data.get('role') });
      link.textContent = created.acceptUrl ? `Invitation link (shown once): ${created.acceptUrl}` : 'The invitation was mailed.';
      setTimeout(reload, 1500);
      return `Invited ${created.email} as ${created.role}.`;
    }, { class: 'invite' }),
    link,
    table(invitations, [
      { label: 'Email', value: (i) => i.email },
      { label: 'Role', value: (i) => i.role },
      { label: 'Expires', value: (i) => new Date(i.expiresAt).toLocaleString() },
      { label: '', value: (i) => button('Revoke', async () => { await api('DELETE', `/invitations/${i.id}`); reload(); }) },
    ], 'No pending invitations.'),
  ));
}

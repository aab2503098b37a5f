import { api } from '../api.ts';
import { h } from '../dom.ts';
import { session, type Me } from '../session.ts';
import { button, field, form, input, section, table } from '../ui.ts';

interface SessionView { id: string; createdAt: string; lastUsedAt: string; userAgent: string | null; ip: string | null; current: boolean }

/** The user's own sessions and second factor. */
export async function sessionsPage(root: HTMLElement, reload: () => void): Promise<void> {
  const { items } = await api<{ items: SessionView[] }>('GET', '/sessions');
  root.append(section('Your sessions', table(items, [
    { label: 'Started', value: (s) => new Date(s.createdAt).toLocaleString() },
    { label: 'Last used', value: (s) => new Date(s.lastUsedAt).toLocaleString() },
    { label: 'Client', value: (s) => s.userAgent },
    { label: 'IP', value: (s) => s.ip },
    { label: '', value: (s) => (s.current ? 'this session' : button('End', async () => { await api('DELETE', `/sessions/${s.id}`); reload(); })) },
  ])));
  const me = session.me!;
  const name = input('displayName', { maxlength: '120', autocomplete: 'name', value: me.user.displayName ?? '' });
  root.append(section('Your name',
    h('p', {}, 'Shown to the members of every tenant you belong to. Leave it empty to show your email only.'),
    form([field('Display name', name)], 'Save name', async (data) => {
      const value = String(data.get('displayName') ?? '').trim();
      session.update(await api<Me>('PATCH', '/me', { displayName: value === '' ? null : value }));
      return value === '' ? 'Name cleared.' : `Name saved: ${value}`;
    }, { class: 'display-name' })));
  const secret = h('div', { class: 'secret' });
  root.append(section('Second factor (TOTP)',
    h('p', {}, `Signed in as ${me.user.email} in ${me.tenant.name} (${me.roles.join(', ')}).`),
    form([field('Password', input('password', { type: 'password', required: true, autocomplete: 'current-password' }))], 'Start enrolment', async (data) => {
      const e = await api<{ secret: string; otpauthUri: string }>('POST', '/auth/mfa/enrol', { password: data.get('password') });
      secret.replaceChildren(h('p', {}, 'Add this secret to your authenticator (shown once):'), h('code', {}, e.secret), h('p', {}, h('code', {}, e.otpauthUri)));
      return 'Enter a code from the authenticator below to finish.';
    }),
    secret,
    form([field('Code', input('code', { required: true, autocomplete: 'one-time-code' }))], 'Confirm', async (data) => {
      const { recoveryCodes } = await api<{ recoveryCodes: string[] }>('POST', '/auth/mfa/confirm', { code: data.get('code') });
      secret.replaceChildren(h('p', {}, 'Recovery codes (shown once; store them safely):'), h('ul', {}, ...recoveryCodes.map((c) => h('li', {}, h('code', {}, c)))));
      return 'Second factor on.';
    }),
  ));
}

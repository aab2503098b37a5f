import './styles.css';
import { ApiError } from './api.ts';
import { h } from './dom.ts';
import { pages, type Page } from './pages/index.ts';
import { login, logout, resume, session, verifyMfa } from './session.ts';
import { errorText, field, input, message } from './ui.ts';

/**
 * The admin console: a hash router over the pages the user's permissions
 * allow. No framework — every node is built with DOM APIs (dom.ts), which is
 * what keeps all user content text under a CSP with Trusted Types.
 */
const app = document.getElementById('app')!;

function visible(): Page[] {
  return pages.filter((p) => session.can(p.permission));
}

function signInView(notice?: string): void {
  const out = h('p', { class: 'message', role: 'status' });
  if (notice) message(out, 'ok', notice);
  const email = input('email', { type: 'email', required: true, autocomplete: 'username' });
  const password = input('password', { type: 'password', required: true, autocomplete: 'current-password' });
  const tenant = h('select', { name: 'tenant', hidden: true });
  const code = input('code', { autocomplete: 'one-time-code', minlength: '6', maxlength: '19', 'aria-label': 'Code' });
  const codeRow = h('div', { class: 'mfa', hidden: true }, field('Code from your authenticator, or a recovery code', code));
  let ticket: string | null = null;
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const formEl = h('form', {
    class: 'sign-in',
    onsubmit: async (e: Event) => {
      e.preventDefault();
      submit.disabled = true;
      try {
        if (ticket) {
          await verifyMfa(ticket, code.value.trim());
          return route();
        }
        const result = await login(email.value, password.value, tenant.hidden ? undefined : tenant.value);
        if ('mfaTicket' in result) {
          ticket = result.mfaTicket;
          codeRow.hidden = false;
          submit.textContent = 'Verify';
          message(out, 'ok', 'Enter the code of your second factor.');
          code.focus();
          return;
        }
        route();
      } catch (err) {
        if (err instanceof ApiError && err.code === 'tenant-required' && Array.isArray(err.problem.tenants)) {
          tenant.replaceChildren(...(err.problem.tenants as Array<{ id: string; name: string }>).map((t) => h('option', { value: t.id }, t.name)));
          tenant.hidden = false;
          message(out, 'ok', 'This account belongs to several tenants: choose one.');
        } else {
          if (ticket && err instanceof ApiError && err.status === 401 && /ticket/i.test(err.message)) {
            ticket = null;
            codeRow.hidden = true;
            submit.textContent = 'Sign in';
          }
          message(out, 'error', errorText(err));
        }
      } finally {
        submit.disabled = false;
      }
    },
  }, h('h1', {}, 'OC-Suite console'), field('Email', email), field('Password', password), tenant, codeRow, submit, out);
  app.replaceChildren(h('main', { class: 'center' }, formEl));
  email.focus();
}

async function route(): Promise<void> {
  const me = session.me;
  if (!me) return signInView();
  const allowed = visible();
  const id = location.hash.replace(/^#\/?/, '') || allowed[0]?.id || 'sessions';
  const page = pages.find((p) => p.id === id);
  const content = h('div', { class: 'content', 'data-page': id });
  const nav = h('nav', {}, ...allowed.map((p) => h('a', { href: `#/${p.id}`, class: p.id === id ? 'active' : '' }, p.title)));
  const header = h('header', {},
    h('strong', {}, 'OC-Suite'), h('span', { class: 'who' }, `${me.user.displayName ?? me.user.email} · ${me.tenant.name} · ${me.roles.join(', ')}`),
    h('button', { type: 'button', class: 'sign-out', onclick: () => void logout() }, 'Sign out'));
  app.replaceChildren(header, h('div', { class: 'layout' }, nav, content));
  if (!page || !session.can(page.permission)) {
    // A forced URL shows nothing of the page; the API would refuse its calls anyway.
    content.append(h('p', { class: 'message error' }, 'You do not have access to this page.'));
    return;
  }
  content.append(h('h1', {}, page.title));
  try {
    await page.render(content, () => void route());
  } catch (e) {
    content.append(h('p', { class: 'message error' }, errorText(e)));
  }
  content.dataset.ready = 'true';
}

session.onEnded((reason) => signInView(reason));
window.addEventListener('hashchange', () => void route());
void (async () => {
  app.replaceChildren(h('p', { class: 'center' }, 'Loading…'));
  if (await resume()) void route();
  else signInView();
})();

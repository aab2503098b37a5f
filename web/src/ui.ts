import { api, ApiError, onStepUpNeeded } from './api.ts';
import { h, text, type Child } from './dom.ts';

export interface Column<T> { label: string; value: (row: T) => Child | unknown }

/** A table of API rows; every cell is text (or an element built by the page). */
export function table<T>(rows: T[], columns: Column<T>[], empty = 'Nothing here yet.'): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', {}, c.label)))),
    h('tbody', {}, ...rows.map((row) => h('tr', {}, ...columns.map((c) => {
      const v = c.value(row);
      return h('td', {}, v instanceof Node ? v : text(v));
    })))),
  );
}

/** Columns for every scalar field of the first row: for pages that only list what the API returns. */
export function autoColumns<T extends object>(rows: T[], skip: string[] = []): Column<T>[] {
  const first = rows[0];
  if (!first) return [];
  return Object.keys(first).filter((k) => !skip.includes(k)).map((k) => ({ label: k, value: (r: T) => (r as Record<string, unknown>)[k] }));
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', {}, h('h2', {}, title), ...children);
}

export function message(el: HTMLElement, kind: 'error' | 'ok', body: string): void {
  el.className = `message ${kind}`;
  el.textContent = body;
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return `${e.status} ${e.problem.title ?? ''}: ${e.message}`.replace(/\s+/g, ' ');
  return e instanceof Error ? e.message : String(e);
}

export function button(label: string, action: () => Promise<unknown> | void, attrs: Record<string, string> = {}): HTMLButtonElement {
  const out = h('span', { class: 'inline-message', role: 'status' });
  const b = h('button', {
    type: 'button', ...attrs,
    onclick: async () => {
      b.disabled = true;
      try {
        await action();
      } catch (e) {
        message(out, 'error', errorText(e));
        b.after(out);
      } finally {
        b.disabled = false;
      }
    },
  }, label);
  return b;
}

/** A form whose submit runs `action` with its fields; errors show under it, nothing else changes. */
export function form(fields: HTMLElement[], submit: string, action: (data: FormData) => Promise<string | void>, attrs: Record<string, string> = {}): HTMLFormElement {
  const out = h('p', { class: 'message', role: 'status' });
  const f: HTMLFormElement = h('form', {
    ...attrs,
    onsubmit: async (e: Event) => {
      e.preventDefault();
      const btn = f.querySelector('button[type=submit]') as HTMLButtonElement | null;
      if (btn) btn.disabled = true;
      try {
        const done = await action(new FormData(f));
        message(out, 'ok', done ?? 'Done.');
      } catch (err) {
        message(out, 'error', errorText(err));
      } finally {
        if (btn) btn.disabled = false;
      }
    },
  }, ...fields, h('button', { type: 'submit' }, submit), out);
  return f;
}

export function field(label: string, input: HTMLElement): HTMLElement {
  return h('label', {}, h('span', {}, label), input);
}

export function input(name: string, attrs: Record<string, string | boolean> = {}): HTMLInputElement {
  return h('input', { name, ...attrs });
}

export function select(name: string, options: Array<string | { value: string; label: string; disabled?: boolean }>, attrs: Record<string, string> = {}): HTMLSelectElement {
  return h('select', { name, ...attrs }, ...options.map((o) => typeof o === 'string'
    ? h('option', { value: o }, o)
    : h('option', { value: o.value, disabled: o.disabled ?? false }, o.label)));
}

/** Asks for a TOTP or recovery code in a modal dialog; resolves with it or null (cancelled). */
export function askCode(title: string, explanation: string): Promise<string | null> {
  return new Promise((resolve) => {
    const code = input('code', { autocomplete: 'one-time-code', required: true, minlength: '6', maxlength: '19', 'aria-label': 'Code' });
    const dialog: HTMLDialogElement = h('dialog', { class: 'step-up', 'aria-label': title },
      h('form', {
        method: 'dialog',
        onsubmit: (e: Event) => {
          e.preventDefault();
          dialog.close();
          dialog.remove();
          resolve(code.value.trim());
        },
      },
      h('h2', {}, title), h('p', {}, explanation), field('Code from your authenticator (or a recovery code)', code),
      h('div', { class: 'row' },
        h('button', { type: 'submit' }, 'Confirm'),
        h('button', { type: 'button', onclick: () => { dialog.close(); dialog.remove(); resolve(null); } }, 'Cancel'))),
    );
    document.body.append(dialog);
    dialog.showModal();
    code.focus();
  });
}

// Step-up: the API answered 403 step-up-required; prove the factor again, then the call is retried once.
onStepUpNeeded(async () => {
  const code = await askCode('Confirm it is you', 'This action needs a fresh second factor.');
  if (!code) return false;
  await api('POST', '/auth/mfa/step-up', { code });
  return true;
});

/** Saves a Blob as a file without a navigation (object URL, removed at once). */
export function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

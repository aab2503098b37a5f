import { h } from './dom.ts';
import { field, input } from './ui.ts';

/** A reason for a moderation or review decision, in a modal (window.prompt is easy to spoof and to block). */
export function askReason(title: string): Promise<string | null> {
  return new Promise((resolve) => {
    const reason = input('reason', { required: true, maxlength: '500', 'aria-label': 'Reason' });
    const done = (value: string | null) => { dialog.close(); dialog.remove(); resolve(value); };
    const dialog: HTMLDialogElement = h('dialog', { 'aria-label': title },
      h('form', { method: 'dialog', onsubmit: (e: Event) => { e.preventDefault(); done(reason.value.trim() || null); } },
        h('h2', {}, title), field('Reason', reason),
        h('div', { class: 'row' }, h('button', { type: 'submit' }, 'OK'), h('button', { type: 'button', onclick: () => done(null) }, 'Cancel'))));
    document.body.append(dialog);
    dialog.showModal();
  });
}

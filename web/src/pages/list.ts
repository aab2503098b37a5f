import { api } from '../api.ts';
import { h } from '../dom.ts';
import { session } from '../session.ts';
import { autoColumns, button, section, table, type Column } from '../ui.ts';

type Row = Record<string, unknown> & { id?: string };
export interface Action { label: string; permission: string; run: (row: Row) => Promise<unknown>; when?: (row: Row) => boolean }
export interface ListSpec { title: string; path: string; skip?: string[]; columns?: Column<Row>[]; actions?: Action[]; details?: (row: Row) => Promise<HTMLElement> }

/** The rows of a list answer: `items`, or the first array it holds. */
function rowsOf(body: unknown): Row[] {
  if (Array.isArray(body)) return body as Row[];
  if (body && typeof body === 'object') {
    const o = body as Record<string, unknown>;
    if (Array.isArray(o.items)) return o.items as Row[];
    const first = Object.values(o).find(Array.isArray);
    if (first) return first as Row[];
  }
  return [];
}

/**
 * A page that lists what one API route returns, as text, with the actions the
 * user's permissions (and a row's own `capabilities`, where the API gives them) allow.
 */
export async function listSection(spec: ListSpec, reload: () => void): Promise<HTMLElement> {
  const rows = rowsOf(await api('GET', spec.path));
  const actions = (spec.actions ?? []).filter((a) => session.can(a.permission));
  const detail = h('div', { class: 'detail' });
  const columns: Column<Row>[] = [...(spec.columns ?? autoColumns(rows, ['capabilities', ...(spec.skip ?? [])]))];
  if (actions.length > 0 || spec.details) {
    columns.push({
      label: '',
      value: (row) => h('div', { class: 'row' },
        ...actions.filter((a) => (a.when ? a.when(row) : true)).map((a) => button(a.label, async () => { await a.run(row); reload(); })),
        spec.details ? button('Details', async () => detail.replaceChildren(await spec.details!(row))) : null),
    });
  }
  return section(spec.title, table(rows, columns), detail);
}

export function renderDetails(title: string, value: unknown): HTMLElement {
  return h('div', { class: 'card' }, h('h3', {}, title), h('pre', {}, typeof value === 'string' ? value : JSON.stringify(value, null, 2)));
}

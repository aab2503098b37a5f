import { KernelError } from '../../kernel/errors.ts';

const VARIABLE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;

/**
 * A template draft: `{{name}}` variables replaced by their values, as plain
 * text (no expressions, no lookups, no HTML). A variable the template uses but
 * the request does not give is an error, never an empty string in a mail.
 */
export function renderTemplate(template: string, variables: Record<string, string>): string {
  const missing = new Set<string>();
  const out = template.replace(VARIABLE, (_, name: string) => {
    if (!Object.hasOwn(variables, name)) {
      missing.add(name);
      return '';
    }
    return variables[name]!;
  });
  if (missing.size > 0) throw new KernelError('validation-failed', 'The template uses variables the request does not give.', { extensions: { missing: [...missing].sort() } });
  return out;
}

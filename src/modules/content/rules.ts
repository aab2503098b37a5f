import { KernelError } from '../../kernel/errors.ts';

export interface ContentRules {
  blockedTerms: readonly string[];
  requiredDisclaimer: string | null;
}

/** Case-insensitive, on word boundaries where the term starts/ends with a word character. */
function termPattern(term: string): RegExp {
  const escaped = term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const start = /^\w/.test(term) ? '\\b' : '';
  const end = /\w$/.test(term) ? '\\b' : '';
  return new RegExp(`${start}${escaped}${end}`, 'iu');
}

/**
 * The tenant's content rules on a model's output: a blocked term refuses the
 * draft (nothing is stored), a required disclaimer is appended when missing.
 * The terms found are named to the caller, who wrote them into the settings.
 */
export function applyContentRules(output: string, rules: ContentRules): string {
  const normalised = output.normalize('NFKC');
  const found = rules.blockedTerms.filter((t) => termPattern(t.normalize('NFKC')).test(normalised));
  if (found.length > 0) {
    throw new KernelError('validation-failed', 'The generated text contains terms this tenant blocks; nothing was stored.', {
      extensions: { blockedTerms: found },
    });
  }
  const disclaimer = rules.requiredDisclaimer;
  if (disclaimer && !normalised.includes(disclaimer.normalize('NFKC'))) return `${output.trimEnd()}\n\n${disclaimer}`;
  return output;
}

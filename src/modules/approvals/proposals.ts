/** The fenced block a model answers proposals in (see the insight system text). */
const BLOCK = /```actions[ \t]*\r?\n([\s\S]{0,20000}?)```/;
const MAX_PROPOSALS = 5;

export interface RawProposal {
  type: unknown;
  payload: unknown;
}

/**
 * Splits a model's answer into prose and proposals. Only `type` and `payload`
 * of each proposal are read: whatever else the model writes (`approved`,
 * `risk`, `permissions`, `requester` …) is ignored, so an answer cannot skip
 * approval, lower a risk or grant anything. Malformed blocks propose nothing.
 */
export function splitAnswer(output: string): { text: string; proposals: RawProposal[]; malformed: number } {
  const m = BLOCK.exec(output);
  if (!m) return { text: output.trim(), proposals: [], malformed: 0 };
  const text = (output.slice(0, m.index) + output.slice(m.index + m[0].length)).trim();
  let parsed: unknown;
  try {
    parsed = JSON.parse(m[1]!);
  } catch {
    return { text, proposals: [], malformed: 1 };
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const proposals: RawProposal[] = [];
  let malformed = Math.max(0, list.length - MAX_PROPOSALS);
  for (const p of list.slice(0, MAX_PROPOSALS)) {
    if (p && typeof p === 'object' && !Array.isArray(p)) proposals.push({ type: (p as RawProposal).type, payload: (p as RawProposal).payload });
    else malformed++;
  }
  return { text, proposals, malformed };
}

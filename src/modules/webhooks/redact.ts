/** What the delivery log keeps of an answer: the first KiB, as text. */
export const RESPONSE_EXCERPT_CHARS = 1024;

/**
 * A receiver's answer, as the delivery log shows it: truncated, and with every
 * trace of what we sent that only the receiver should know removed — the
 * secrets (whole and their key part) and the signatures — so a receiver that
 * echoes its request cannot make the log disclose them.
 */
export function responseExcerpt(body: Buffer, secrets: readonly string[], signatures: readonly string[]): string {
  let text = body.subarray(0, RESPONSE_EXCERPT_CHARS * 4).toString('utf8');
  const needles = [...secrets, ...secrets.map((s) => s.replace(/^whsec_/, '')), ...signatures]
    .filter((n) => n.length >= 8)
    .sort((a, b) => b.length - a.length);
  for (const needle of needles) text = text.split(needle).join('[redacted]');
  // Control characters other than tab and newlines are dropped (the log is shown in consoles).
  text = text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
  return text.slice(0, RESPONSE_EXCERPT_CHARS);
}

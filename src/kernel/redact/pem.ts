import type { Finding } from './types.ts';

const BEGIN = '-----BEGIN ';
const END = '-----END ';
const label = /^[A-Z0-9 ]{1,40}(?=-----)/;
/** The base64 body (and RFC 1421 headers) of an armour cut off before its END line. */
const body = /^[A-Za-z0-9+/=\s:,-]*/;

/**
 * PEM armour (RFC 7468): every BEGIN…END block, and a private-key block cut off
 * before its END line (a pasted half key is still a key). Found with one pass
 * over the BEGIN and END markers, so many unterminated BEGINs cost linear time.
 */
export function findPemBlocks(text: string): Finding[] {
  const out: Finding[] = [];
  if (!text.includes(BEGIN)) return out;
  const ends: Array<{ at: number; label: string; stop: number }> = [];
  for (let at = text.indexOf(END); at !== -1; at = text.indexOf(END, at + END.length)) {
    const m = label.exec(text.slice(at + END.length, at + END.length + 46));
    if (m) ends.push({ at, label: m[0], stop: at + END.length + m[0].length + 5 });
  }
  let next = 0;
  let covered = 0;
  for (let at = text.indexOf(BEGIN); at !== -1; at = text.indexOf(BEGIN, at + BEGIN.length)) {
    if (at < covered) continue;
    const m = label.exec(text.slice(at + BEGIN.length, at + BEGIN.length + 46));
    if (!m) continue;
    const headerEnd = at + BEGIN.length + m[0].length + 5;
    while (next < ends.length && ends[next]!.at < headerEnd) next++;
    const end = ends[next];
    const nextBegin = text.indexOf(BEGIN, headerEnd);
    const isKey = m[0].endsWith('PRIVATE KEY') || m[0].endsWith('PRIVATE KEY BLOCK');
    if (end && end.label === m[0] && (nextBegin === -1 || end.at < nextBegin)) {
      out.push({ category: 'secret', kind: isKey ? 'pem-private-key' : 'pem-block', start: at, end: end.stop });
      covered = end.stop;
    } else if (isKey) {
      const rest = body.exec(text.slice(headerEnd, headerEnd + 16_384))![0];
      out.push({ category: 'secret', kind: 'pem-private-key', start: at, end: headerEnd + rest.length });
      covered = headerEnd + rest.length;
    }
  }
  return out;
}

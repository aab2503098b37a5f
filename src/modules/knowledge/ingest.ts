import { ProblemError } from '../../http/problem.ts';
import { replaceFindings, scan, type Finding } from '../../kernel/redact/index.ts';

/**
 * Bulk import of knowledge files (docs/knowledge.md): JSON Lines (one entry a line) and Markdown
 * (one entry a file). Pure parsing and scanning; the service writes. Every limit is checked before
 * anything is written, so a refused import changes nothing.
 */
export const IMPORT_LIMITS = {
  /** Files in one import. */
  files: 20,
  /** UTF-8 bytes of one file. */
  fileBytes: 1_048_576,
  /** UTF-8 bytes of all files of one import. */
  totalBytes: 4_194_304,
  /** Entries in one import (all files). */
  entries: 2_000,
} as const;

export const IMPORT_TYPES = {
  jsonl: { mediaTypes: ['application/jsonl', 'application/x-ndjson', 'application/jsonlines'], extensions: ['.jsonl', '.ndjson'] },
  markdown: { mediaTypes: ['text/markdown', 'text/x-markdown'], extensions: ['.md', '.markdown'] },
} as const;

export type IngestPolicy = 'reject' | 'redact';

export interface ImportFile {
  name: string;
  mediaType: string;
  content: string;
}

export interface ParsedEntry {
  title: string;
  body: string;
  tags: string[];
}

/** What the scan found in one entry: where (file, line or entry number), which rule; never the value. */
export interface ImportFinding {
  file: string;
  entry: number;
  field: 'title' | 'body' | 'tags';
  category: Finding['category'];
  kind: string;
}

const TAG = /^[^\s,]+$/;

function invalid(detail: string, extensions?: Record<string, unknown>): ProblemError {
  return new ProblemError('validation-failed', 422, detail, extensions ? { extensions } : undefined);
}

function typeOf(file: ImportFile): keyof typeof IMPORT_TYPES {
  const media = file.mediaType.toLowerCase().split(';')[0]!.trim();
  const name = file.name.toLowerCase();
  for (const [type, spec] of Object.entries(IMPORT_TYPES) as [keyof typeof IMPORT_TYPES, (typeof IMPORT_TYPES)[keyof typeof IMPORT_TYPES]][]) {
    if ((spec.mediaTypes as readonly string[]).includes(media)) {
      if (!(spec.extensions as readonly string[]).some((e) => name.endsWith(e))) {
        throw new ProblemError('unsupported-media-type', 415, `${file.name}: a ${type} file is named ${spec.extensions.join(' or ')}.`);
      }
      return type;
    }
  }
  throw new ProblemError('unsupported-media-type', 415, `${file.name}: ${file.mediaType} is not importable (JSON Lines or Markdown only).`, {
    extensions: { accepted: Object.values(IMPORT_TYPES).flatMap((t) => t.mediaTypes) },
  });
}

function checkEntry(e: ParsedEntry, where: string): ParsedEntry {
  if (e.title.length < 1 || e.title.length > 300) throw invalid(`${where}: title must be 1 to 300 characters.`);
  if (e.body.length > 100_000) throw invalid(`${where}: body is longer than 100,000 characters.`);
  if (e.tags.length > 32 || new Set(e.tags).size !== e.tags.length || e.tags.some((t) => t.length < 1 || t.length > 64 || !TAG.test(t))) {
    throw invalid(`${where}: tags must be at most 32 distinct words of 1 to 64 characters.`);
  }
  return e;
}

function parseJsonLines(file: ImportFile): ParsedEntry[] {
  const entries: ParsedEntry[] = [];
  const lines = file.content.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const where = `${file.name} line ${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw invalid(`${where}: not a JSON value.`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`${where}: expected an object {title, body, tags?}.`);
    const o = v as Record<string, unknown>;
    const unknownKey = Object.keys(o).find((k) => k !== 'title' && k !== 'body' && k !== 'tags');
    if (unknownKey !== undefined) throw invalid(`${where}: unknown member "${unknownKey.slice(0, 40)}".`);
    if (typeof o.title !== 'string' || typeof o.body !== 'string') throw invalid(`${where}: title and body must be strings.`);
    if (o.tags !== undefined && (!Array.isArray(o.tags) || o.tags.some((t) => typeof t !== 'string'))) throw invalid(`${where}: tags must be an array of strings.`);
    entries.push(checkEntry({ title: o.title, body: o.body, tags: (o.tags as string[] | undefined) ?? [] }, where));
    if (entries.length > IMPORT_LIMITS.entries) break;
  }
  return entries;
}

/** One Markdown file is one entry: its first `# ` heading is the title (else the file name), the whole text the body. */
function parseMarkdown(file: ImportFile): ParsedEntry[] {
  const heading = /^#[ \t]+(.+?)[ \t#]*$/m.exec(file.content);
  const title = (heading?.[1] ?? file.name.replace(/\.(md|markdown)$/i, '')).trim().slice(0, 300);
  return [checkEntry({ title: title || file.name.slice(0, 300), body: file.content, tags: [] }, file.name)];
}

/** Parses every file after checking the import's limits; throws a 4xx problem before anything is written. */
export function parseImport(files: readonly ImportFile[]): { file: string; entries: ParsedEntry[] }[] {
  if (files.length === 0) throw invalid('An import holds at least one file.');
  if (files.length > IMPORT_LIMITS.files) throw invalid(`An import holds at most ${IMPORT_LIMITS.files} files.`, { limit: IMPORT_LIMITS.files });
  let total = 0;
  for (const f of files) {
    const bytes = Buffer.byteLength(f.content, 'utf8');
    total += bytes;
    if (bytes > IMPORT_LIMITS.fileBytes) {
      throw new ProblemError('payload-too-large', 413, `${f.name} is larger than ${IMPORT_LIMITS.fileBytes} bytes.`, { extensions: { limit: IMPORT_LIMITS.fileBytes } });
    }
  }
  if (total > IMPORT_LIMITS.totalBytes) {
    throw new ProblemError('payload-too-large', 413, `The import is larger than ${IMPORT_LIMITS.totalBytes} bytes.`, { extensions: { limit: IMPORT_LIMITS.totalBytes } });
  }
  const types = files.map(typeOf);
  const parsed = files.map((f, i) => ({ file: f.name, entries: types[i] === 'jsonl' ? parseJsonLines(f) : parseMarkdown(f) }));
  const count = parsed.reduce((n, p) => n + p.entries.length, 0);
  if (count > IMPORT_LIMITS.entries) throw invalid(`An import holds at most ${IMPORT_LIMITS.entries} entries.`, { limit: IMPORT_LIMITS.entries });
  if (count === 0) throw invalid('The import holds no entry.');
  return parsed;
}

/**
 * Scans every field of every entry with kernel/redact. A secret always refuses the import (a
 * credential is never knowledge: it is reported, and must be rotated, not stored masked). Personal
 * data refuses it under the `reject` policy and is masked (`[redacted:<kind>]`) under `redact`.
 */
export function screenImport(parsed: readonly { file: string; entries: ParsedEntry[] }[], policy: IngestPolicy, phoneRegion?: string) {
  const findings: ImportFinding[] = [];
  const entries: (ParsedEntry & { file: string })[] = [];
  for (const { file, entries: list } of parsed) {
    list.forEach((e, i) => {
      const mask = (field: ImportFinding['field'], text: string) => {
        const found = scan(text, { phoneRegion });
        for (const f of found) findings.push({ file, entry: i + 1, field, category: f.category, kind: f.kind });
        return replaceFindings(text, found, (f) => `[redacted:${f.kind}]`);
      };
      entries.push({ file, title: mask('title', e.title).slice(0, 300), body: mask('body', e.body), tags: e.tags.map((t) => mask('tags', t)) });
    });
  }
  const refused = findings.filter((f) => f.category === 'secret' || policy === 'reject');
  if (refused.length > 0) {
    const files = [...new Set(refused.map((f) => f.file))];
    throw new ProblemError('validation-failed', 422, `Refused: ${files.length} file(s) hold ${refused.some((f) => f.category === 'secret') ? 'secrets' : 'personal data'} (policy ${policy}). Nothing was imported.`, {
      extensions: { policy, rejectedFiles: files, findings: refused.slice(0, 100) },
    });
  }
  // Tags lose their shape when masked ("[redacted:email]" holds no comma or space, so it stays a valid tag).
  return { entries: entries.map((e) => ({ ...e, tags: [...new Set(e.tags)] })), findings };
}

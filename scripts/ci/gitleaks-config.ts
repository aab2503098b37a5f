import fs from 'node:fs';

/**
 * The subset of gitleaks' TOML configuration our scanner reads: `[[rules]]`
 * tables with `id`, `description`, `regex`, `keywords`, and one `[allowlist]`
 * with `paths`, `regexes`, `commits`. The file stays a valid gitleaks config, so
 * `gitleaks detect` runs with the same rules wherever gitleaks is installed.
 * A line the subset does not know fails loudly instead of being ignored.
 */
export interface SecretRule { id: string; description: string; regex: RegExp; keywords: string[] }
export interface SecretConfig { rules: SecretRule[]; allowPaths: RegExp[]; allowRegexes: RegExp[]; allowCommits: string[] }

type Table = Record<string, string | string[]>;

export function parseGitleaksConfig(text: string, file = '.gitleaks.toml'): SecretConfig {
  const rules: Table[] = [];
  let allow: Table = {};
  let current: Table | undefined;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line === '[[rules]]') rules.push((current = {}));
    else if (line === '[allowlist]') current = allow = {};
    else if (line.startsWith('title')) continue;
    else {
      const m = /^([a-zA-Z]+)\s*=\s*(.+)$/.exec(line);
      if (!m || !current) throw new Error(`${file}:${n + 1}: not in the gitleaks subset this scanner reads: ${line}`);
      current[m[1] as string] = value(m[2] as string, `${file}:${n + 1}`);
    }
  }
  return {
    rules: rules.map((r, i) => {
      if (typeof r.id !== 'string' || typeof r.regex !== 'string') throw new Error(`${file}: rule #${i + 1} needs id and regex`);
      return { id: r.id, description: String(r.description ?? r.id), regex: new RegExp(r.regex, 'g'), keywords: Array.isArray(r.keywords) ? r.keywords.map((k) => k.toLowerCase()) : [] };
    }),
    allowPaths: list(allow.paths).map((p) => new RegExp(p)),
    allowRegexes: list(allow.regexes).map((p) => new RegExp(p)),
    allowCommits: list(allow.commits),
  };
}

export function readGitleaksConfig(file: string): SecretConfig {
  return parseGitleaksConfig(fs.readFileSync(file, 'utf8'), file);
}

function list(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** `'''literal'''`, `'literal'`, `"basic"` (no escapes used by our file), or an array of them on one line. */
function value(raw: string, where: string): string | string[] {
  const s = raw.trim();
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) throw new Error(`${where}: arrays must be on one line`);
    const items = s.slice(1, -1).match(/'''[^]*?'''|'[^']*'|"[^"]*"/g) ?? [];
    return items.map((i) => value(i, where) as string);
  }
  for (const q of ["'''", "'", '"']) if (s.startsWith(q) && s.endsWith(q) && s.length >= 2 * q.length) return s.slice(q.length, -q.length);
  throw new Error(`${where}: expected a quoted string or an array`);
}

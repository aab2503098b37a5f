import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { variables } from '../../src/config/config.ts';
import { END, envExample, envExampleUrl, readmeUrl, START, withConfigTable } from '../../src/config/docs.ts';

describe('configuration docs follow the declaration (src/config/schema.ts)', () => {
  it('README.md has the table the declaration gives (run `npm run docs:config` after changing it)', () => {
    const readme = readFileSync(readmeUrl, 'utf8');
    expect(readme).toBe(withConfigTable(readme));
  });

  it('.env.example is the one the declaration gives (run `npm run docs:config` after changing it)', () => {
    expect(readFileSync(envExampleUrl, 'utf8')).toBe(envExample());
  });

  it('rewrites only the table between the markers, one row per variable', () => {
    const stale = `# Title\n\nprose before\n\n${START}\n\n| variable | meaning |\n| --- | --- |\n| \`GONE\` | removed |\n\n${END}\n\nprose after\n`;
    const fresh = withConfigTable(stale);
    expect(fresh.startsWith(`# Title\n\nprose before\n\n${START}\n`)).toBe(true);
    expect(fresh.endsWith(`${END}\n\nprose after\n`)).toBe(true);
    expect(fresh).not.toContain('GONE');
    const rows = fresh.split('\n').filter((line) => line.startsWith('| `'));
    expect(rows.map((row) => row.slice(3, row.indexOf('`', 3)))).toEqual(Object.keys(variables));
    expect(fresh).toContain('| `PORT` | TCP port (default 3000) |');
    expect(withConfigTable(fresh)).toBe(fresh);
  });

  it('refuses a README whose markers are missing instead of appending a second table', () => {
    expect(() => withConfigTable('# Title\n\n| variable | meaning |\n')).toThrow(/config:start/);
    expect(() => withConfigTable(`${END}\n${START}\n`)).toThrow(/config:start/);
  });

  it('.env.example lists every variable commented out, under its meaning', () => {
    const example = envExample();
    for (const [name, meaning] of Object.entries(variables)) expect(example).toContain(`\n# ${meaning}\n#${name}=\n`);
  });
});

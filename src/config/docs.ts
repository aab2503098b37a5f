import { readFileSync, writeFileSync } from 'node:fs';
import { variables } from './config.ts';

/** The README's configuration table and `.env.example`, written from the declaration (schema.ts). */

export const START = '<!-- config:start: generated from src/config/schema.ts by `npm run docs:config` -->';
export const END = '<!-- config:end -->';

const HEADER = `# OC-Suite configuration. Every variable is optional in the embedded profile.
# With NODE_ENV=production the process refuses to start on unsafe values (see README).
# Generated from src/config/schema.ts by \`npm run docs:config\`: change the declaration, not this file.
`;

export const readmeUrl = new URL('../../README.md', import.meta.url);
export const envExampleUrl = new URL('../../.env.example', import.meta.url);

export function envExample(): string {
  return HEADER + Object.entries(variables).map(([name, meaning]) => `\n# ${meaning}\n#${name}=\n`).join('');
}

/** The README with its configuration table, between the markers, rewritten; the prose around it is kept. */
export function withConfigTable(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md: the configuration table must sit between ${START} and ${END}`);
  const rows = Object.entries(variables).map(([name, meaning]) => `| \`${name}\` | ${meaning.replaceAll('|', '\\|')} |`);
  const table = ['| variable | meaning |', '| --- | --- |', ...rows].join('\n');
  // Blank lines around the table: GitHub might otherwise read the end marker as a table row.
  return `${readme.slice(0, start)}${START}\n\n${table}\n\n${readme.slice(end)}`;
}

if (import.meta.main) {
  writeFileSync(readmeUrl, withConfigTable(readFileSync(readmeUrl, 'utf8')));
  writeFileSync(envExampleUrl, envExample());
}

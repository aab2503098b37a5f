import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build:console` (Vite, web/vite.config.ts) writes the console. */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../web/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

export interface Asset { body: Buffer; type: string }

/**
 * Reads the built console into memory once, at start. Only these files are
 * served, so no request path ever reaches the file system (no traversal), and
 * an unknown extension is not served at all.
 */
export function loadConsoleAssets(dir = CONSOLE_DIST): Map<string, Asset> | undefined {
  let index: Buffer;
  try {
    index = readFileSync(join(dir, 'index.html'));
  } catch {
    return undefined;
  }
  const assets = new Map<string, Asset>([['index.html', { body: index, type: TYPES['.html']! }]]);
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const full = join(folder, name);
      if (statSync(full).isDirectory()) walk(full);
      else {
        const type = TYPES[extname(name)];
        if (type) assets.set(relative(dir, full).split(sep).join('/'), { body: readFileSync(full), type });
      }
    }
  };
  walk(dir);
  return assets;
}

// Published conformance vectors, read from disk (never retyped): $OCSUITE_VECTORS_DIR, or the
// copies in test/vectors/ (their sources and licences: test/vectors/README.md).

import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const vectorsDir: string =
  process.env.OCSUITE_VECTORS_DIR ?? fileURLToPath(new URL('./vectors/', import.meta.url));

export function readVector<T = unknown>(relPath: string): T {
  return JSON.parse(readFileSync(join(vectorsDir, relPath), 'utf8')) as T;
}

/** Every `.json` file under `relDir`, recursively, as paths relative to vectorsDir, sorted. */
export function listVectors(relDir: string): string[] {
  const root = join(vectorsDir, relDir);
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.json'))
    .map((entry) => relative(vectorsDir, join(entry.parentPath, entry.name)))
    .sort();
}

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * docs/architecture.md: config ← db ← kernel ← jobs, http ← modules ← server, cli.
 * Read from the source, so an import that points up a layer, or a cycle between
 * files, fails here the day it is written.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const src = join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => normalize(join(dirname(file), m[1] ?? m[2]!)));
}

const RANK: Record<string, number> = { config: 0, db: 1, kernel: 2, jobs: 3, http: 3, modules: 4, top: 5 };

function layerOf(file: string): keyof typeof RANK {
  const first = relative(src, file).split('/')[0]!;
  if (first === 'config' || first === 'db' || first === 'kernel' || first === 'jobs' || first === 'http' || first === 'modules') return first;
  return 'top'; // server.ts, boot.ts, cli/
}

const files = sourceFiles(src);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe('layers', () => {
  it('every import points down a layer (or stays within one); jobs and http do not import each other', () => {
    const upward: string[] = [];
    for (const [file, deps] of graph) {
      const from = layerOf(file);
      for (const dep of deps) {
        const to = layerOf(dep);
        const sideways = from !== to && RANK[from] === RANK[to];
        if (RANK[to]! > RANK[from]! || sideways) upward.push(`${relative(root, file)} (${from}) → ${relative(root, dep)} (${to})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('no file imports a file that (transitively) imports it back', () => {
    // Tarjan's strongly connected components; any component of more than one file is a cycle.
    let index = 0;
    const idx = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const cycles: string[][] = [];
    const visit = (v: string) => {
      idx.set(v, index);
      low.set(v, index++);
      stack.push(v);
      onStack.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!graph.has(w)) continue;
        if (!idx.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
      if (low.get(v) === idx.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(relative(root, w));
        } while (w !== v);
        if (component.length > 1) cycles.push(component.sort());
      }
    };
    for (const f of files) if (!idx.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('reads real imports (the check above is not vacuous)', () => {
    const server = [...graph.entries()].find(([f]) => f.endsWith('src/server.ts'))!;
    expect(server[1].some((d) => d.includes('/http/'))).toBe(true);
    expect([...graph.values()].flat().length).toBeGreaterThan(300);
  });
});

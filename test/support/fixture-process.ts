import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Fixtures are TypeScript run by Node's type stripping (22+); under an older `node`, the project's own.
const nodeBin = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : path.join(root, 'node_modules/.bin/node');

export interface FixtureProcess {
  child: ChildProcess;
  /** The first JSON line the process printed holding `key`; fails if it exits or `ms` pass first. */
  waitFor(key: string, ms?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  lines: Array<Record<string, unknown>>;
}

/**
 * Processes of one fixture (the kill -9 tests): each is started with its own environment
 * and reports by JSON lines on stdout; `killAll` SIGKILLs whatever still runs (afterAll).
 */
export function fixtureProcesses(fixture: string, defaultWaitMs: number) {
  const file = path.join(root, fixture);
  const children = new Set<ChildProcess>();
  return {
    start(env: Record<string, string>): FixtureProcess {
      const child = spawn(nodeBin, [file], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      const lines: Array<Record<string, unknown>> = [];
      let err = '';
      let buf = '';
      child.stdout!.on('data', (c: Buffer) => {
        buf += c.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          try {
            lines.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            /* not ours */
          }
        }
      });
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      const waitFor = async (key: string, ms = defaultWaitMs) => {
        const deadline = Date.now() + ms;
        for (;;) {
          const hit = lines.find((l) => key in l);
          if (hit) return hit;
          if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker gave no "${key}" (exit ${child.exitCode}): ${err.slice(-2000)}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      return { child, waitFor, exited, lines };
    },
    killAll(): void {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    },
  };
}

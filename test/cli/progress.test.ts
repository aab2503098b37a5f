import { describe, expect, it } from 'vitest';
import { createProgress } from '../../src/cli/progress.ts';

/** A stream that records what is written; `tty` makes it look like a terminal to cli-progress. */
function recorder(tty: boolean) {
  const chunks: string[] = [];
  const stream = {
    isTTY: tty,
    columns: 120,
    write(chunk: string) {
      chunks.push(String(chunk));
      return true;
    },
    cursorTo() { return true; },
    clearLine() { return true; },
    moveCursor() { return true; },
    on() { return stream; },
    removeListener() { return stream; },
  };
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => chunks.join('') };
}

describe('CLI progress (issue #22 §6)', () => {
  it('prints plain periodic lines with rate and ETA when not on a terminal, then a summary', () => {
    const out = recorder(false);
    const p = createProgress({ stream: out.stream, plainIntervalMs: 0 });
    for (let done = 0; done <= 1000; done += 250) p.update('re-encrypt knowledge_entries.body', done, 1000);
    p.finish();
    const lines = out.text().trim().split('\n');
    expect(lines[1]).toMatch(/^re-encrypt knowledge_entries\.body: 250\/1000 \(\d+\/s, ETA \d+ s\)$/);
    expect(lines.at(-1)).toMatch(/^re-encrypt knowledge_entries\.body: 1000\/1000 done in \d+\.\d s \(\d+\/s\)$/);
  });

  it('limits plain lines to one per interval but always prints the last', () => {
    const out = recorder(false);
    const p = createProgress({ stream: out.stream, plainIntervalMs: 60_000 });
    for (let done = 1; done <= 500; done++) p.update('verify', done, 500);
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^verify: 500\/500/);
    p.finish();
  });

  it('prints an update held back once its interval ends (a slow batch still shows where it is)', async () => {
    const out = recorder(false);
    const p = createProgress({ stream: out.stream, plainIntervalMs: 200 });
    p.update('rewrap', 0, 8);
    p.update('rewrap', 2, 8);
    expect(out.text()).not.toContain('2/8');
    for (let i = 0; i < 50 && !out.text().includes('2/8'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(out.text()).toMatch(/rewrap: 2\/8 \(\d+\/s, ETA \d+ s\)/);
    p.finish();
  });

  it('draws a bar with rate and ETA on a terminal', () => {
    const out = recorder(true);
    const p = createProgress({ stream: out.stream });
    p.update('leaves re-hashed', 10, 100);
    p.update('leaves re-hashed', 100, 100);
    p.finish();
    expect(out.text()).toMatch(/leaves re-hashed \[.*\] 100\/100 100% \| \d+\/s \| ETA/);
  });

  it('writes nothing in --json mode, so stdout and stderr stay machine-readable', () => {
    const out = recorder(false);
    const p = createProgress({ stream: out.stream, json: true });
    p.update('x', 1, 2);
    p.finish();
    expect(out.text()).toBe('');
  });
});

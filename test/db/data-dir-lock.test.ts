import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openPglite } from '../../src/db/client.ts';
import { DataDirInUseError, lockDataDir } from '../../src/db/data-dir-lock.ts';

/** One process per embedded data folder: a second process is refused, a dead one's lock is taken over. */
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-lock-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A PID that certainly ran and is gone now. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

describe('embedded data folder lock', () => {
  it('refuses a folder another live process holds, naming it, and opens nothing', async () => {
    const dir = path.join(root, 'busy');
    fs.writeFileSync(`${dir}.lock`, String(process.ppid)); // the parent process: alive
    await expect(openPglite(dir)).rejects.toBeInstanceOf(DataDirInUseError);
    await expect(openPglite(dir)).rejects.toThrow(`in use by process ${process.ppid}`);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.readFileSync(`${dir}.lock`, 'utf8')).toBe(String(process.ppid));
  });

  it('takes over the lock of a process that died, and gives it back on close', async () => {
    const dir = path.join(root, 'stale');
    fs.writeFileSync(`${dir}.lock`, String(deadPid()));
    const db = await openPglite(dir);
    expect(fs.readFileSync(`${dir}.lock`, 'utf8')).toBe(String(process.pid));
    await db.close();
    expect(fs.existsSync(`${dir}.lock`)).toBe(false);
  });

  it('is re-entrant within one process and released by the last holder', () => {
    const dir = path.join(root, 'nested');
    const first = lockDataDir(dir);
    const second = lockDataDir(dir);
    first();
    expect(fs.existsSync(`${dir}.lock`)).toBe(true);
    second();
    expect(fs.existsSync(`${dir}.lock`)).toBe(false);
  });
});

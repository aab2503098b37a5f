import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openPglite } from '../../src/db/client.ts';
import { DataDirInUseError, lockDataDir, processStartOf } from '../../src/db/data-dir-lock.ts';

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
    // The refusal says how to clear it.
    await expect(openPglite(dir)).rejects.toThrow(`delete ${dir}.lock`);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.readFileSync(`${dir}.lock`, 'utf8')).toBe(String(process.ppid));
  });

  it('takes over the lock of a process that died, and gives it back on close', async () => {
    const dir = path.join(root, 'stale');
    fs.writeFileSync(`${dir}.lock`, String(deadPid()));
    const db = await openPglite(dir);
    expect(JSON.parse(fs.readFileSync(`${dir}.lock`, 'utf8'))).toMatchObject({ pid: process.pid, host: os.hostname(), processStart: processStartOf(process.pid) });
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

  const lockOf = (pid: number, processStart: string | null, host = os.hostname()) =>
    JSON.stringify({ pid, processStart, host, lockedAt: new Date(0).toISOString() });

  it('records PID, process start time and host, and refuses a live owner whose start time matches, saying how to clear it', async () => {
    const dir = path.join(root, 'live-recorded');
    const parentStart = processStartOf(process.ppid);
    expect(parentStart).toMatch(/^\d+$/); // Linux: /proc/<pid>/stat
    fs.writeFileSync(`${dir}.lock`, lockOf(process.ppid, parentStart));
    const refusal = await openPglite(dir).then(() => undefined, (err: Error) => err);
    expect(refusal).toBeInstanceOf(DataDirInUseError);
    expect(refusal!.message).toContain(`in use by process ${process.ppid}`);
    expect(refusal!.message).toContain(`if it is certainly not running, delete ${dir}.lock`);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('recognises a reused PID: the PID runs, but a process that started at another time holds it now', async () => {
    const dir = path.join(root, 'reused');
    const parentStart = Number(processStartOf(process.ppid));
    // The lock names the parent's PID with a start time it never had: the process that took the lock is gone.
    fs.writeFileSync(`${dir}.lock`, lockOf(process.ppid, String(parentStart + 12345)));
    const db = await openPglite(dir);
    expect(JSON.parse(fs.readFileSync(`${dir}.lock`, 'utf8')).pid).toBe(process.pid);
    await db.close();
    expect(fs.existsSync(`${dir}.lock`)).toBe(false);
  });

  it('refuses a lock of another host (a shared disk) it cannot check, naming the host and the file to delete', () => {
    const dir = path.join(root, 'other-host');
    fs.writeFileSync(`${dir}.lock`, lockOf(deadPid(), '1', 'some-other-host.example'));
    expect(() => lockDataDir(dir)).toThrow(DataDirInUseError);
    expect(() => lockDataDir(dir)).toThrow(/on host some-other-host\.example.*delete .*other-host\.lock/);
  });

  it('takes over a lock file whose content is not a lock at all, and never removes a lock it does not hold', () => {
    const dir = path.join(root, 'garbage');
    fs.writeFileSync(`${dir}.lock`, '{not json');
    const unlock = lockDataDir(dir);
    // Someone else's lock replaced ours meanwhile: release leaves it alone.
    fs.writeFileSync(`${dir}.lock`, lockOf(process.ppid, processStartOf(process.ppid)));
    unlock();
    expect(fs.existsSync(`${dir}.lock`)).toBe(true);
  });
});

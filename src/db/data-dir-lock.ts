import fs from 'node:fs';
import os from 'node:os';

/**
 * One process per embedded data folder. PGlite takes no lock of its own, and
 * two processes writing one folder silently lose data (electric-sql/pglite
 * #323): `serve` and a CLI command against the same folder must not both run.
 *
 * The lock is a file beside the folder naming its owner: PID, the process's
 * start time and the host. A lock whose process no longer runs — or whose PID
 * now belongs to a process that started later (PID reuse after a reboot or a
 * container restart) — is stale and is taken over. A lock of another host
 * (a data folder on a shared disk) cannot be checked and is refused. Every
 * refusal names the lock file and says how to clear it.
 */
export class DataDirInUseError extends Error {
  readonly code = 'ERR_DATA_DIR_IN_USE';
}

/** What the lock file holds (JSON); a lock of an older version holds the bare PID. */
export interface LockOwner {
  pid: number;
  /** Start time of the process as the OS reports it (Linux: clock ticks since boot, /proc/<pid>/stat field 22); null where unknown. */
  processStart: string | null;
  host: string;
  /** When the lock was taken (for the operator reading it). */
  lockedAt?: string;
}

const held = new Map<string, number>();

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The start time of a running process, or null where the OS does not say (non-Linux, no /proc). */
export function processStartOf(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[19]; // field 22, counted from field 3 (state)
    return start && /^\d+$/.test(start) ? start : null;
  } catch {
    return null;
  }
}

function readOwner(file: string): LockOwner | undefined {
  const text = fs.readFileSync(file, 'utf8').trim();
  if (/^\d+$/.test(text)) return { pid: Number(text), processStart: null, host: os.hostname() };
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (Number.isInteger(o.pid) && (o.pid as number) > 0 && typeof o.host === 'string') {
      return { pid: o.pid as number, processStart: typeof o.processStart === 'string' ? o.processStart : null, host: o.host, ...(typeof o.lockedAt === 'string' ? { lockedAt: o.lockedAt } : {}) };
    }
  } catch {
    /* unreadable: treated as stale below */
  }
  return undefined;
}

function ownerOfThisProcess(): LockOwner {
  return { pid: process.pid, processStart: processStartOf(process.pid), host: os.hostname(), lockedAt: new Date().toISOString() };
}

const howToClear = (dataDir: string, file: string) =>
  `stop that process first (one process per data folder); if it is certainly not running, delete ${file} and start again — the data in ${dataDir} is kept`;

/**
 * Whether the owner named in a lock still holds it: `undefined` when the lock is stale,
 * otherwise the reason for refusing.
 */
function liveOwner(owner: LockOwner | undefined, dataDir: string, file: string): string | undefined {
  if (!owner) return undefined; // garbage in the file: nobody can be holding it
  if (owner.host !== os.hostname()) {
    return `the embedded database ${dataDir} is locked by process ${owner.pid} on host ${owner.host}, which this host cannot check: ${howToClear(dataDir, file)}`;
  }
  if (owner.pid === process.pid) return undefined; // our own PID, but not a lock we hold: a previous life of this PID
  if (!alive(owner.pid)) return undefined; // its process is gone
  if (owner.processStart !== null) {
    const now = processStartOf(owner.pid);
    // The PID runs, but a process that started at another time holds it now: PID reuse.
    if (now !== null && now !== owner.processStart) return undefined;
  }
  return `the embedded database ${dataDir} is in use by process ${owner.pid}${owner.lockedAt ? ` (locked at ${owner.lockedAt})` : ''}: ${howToClear(dataDir, file)}`;
}

/** Takes the folder's lock (re-entrant within this process); returns its release. */
export function lockDataDir(dataDir: string): () => void {
  const file = `${dataDir}.lock`;
  const mine = held.get(file);
  if (mine !== undefined) {
    held.set(file, mine + 1);
    return () => release(file);
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, JSON.stringify(ownerOfThisProcess()));
      fs.closeSync(fd);
      held.set(file, 1);
      return () => release(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const refusal = liveOwner(readOwner(file), dataDir, file);
      if (refusal) throw new DataDirInUseError(refusal);
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new DataDirInUseError(`could not lock the embedded database ${dataDir}: another process took ${file} at the same moment; ${howToClear(dataDir, file)}`);
}

function release(file: string): void {
  const n = (held.get(file) ?? 1) - 1;
  if (n > 0) {
    held.set(file, n);
    return;
  }
  held.delete(file);
  try {
    const owner = readOwner(file);
    if (owner?.pid === process.pid && owner.host === os.hostname()) fs.rmSync(file, { force: true });
  } catch {
    /* already gone */
  }
}

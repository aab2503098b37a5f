import fs from 'node:fs';

/**
 * One process per embedded data folder. PGlite takes no lock of its own, and
 * two processes writing one folder silently lose data (electric-sql/pglite
 * #323): `serve` and a CLI command against the same folder must not both run.
 * The lock is a file beside the folder holding the owner's PID; a PID that no
 * longer runs (a killed process) is a stale lock and is taken over.
 */
export class DataDirInUseError extends Error {
  readonly code = 'ERR_DATA_DIR_IN_USE';
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
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      held.set(file, 1);
      return () => release(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new DataDirInUseError(`the embedded database ${dataDir} is in use by process ${pid}: stop it first (one process per data folder)`);
      }
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new DataDirInUseError(`could not lock the embedded database ${dataDir}`);
}

function release(file: string): void {
  const n = (held.get(file) ?? 1) - 1;
  if (n > 0) {
    held.set(file, n);
    return;
  }
  held.delete(file);
  try {
    if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file, { force: true });
  } catch {
    /* already gone */
  }
}

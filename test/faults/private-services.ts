import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * Private PostgreSQL and Redis servers for fault tests: the machine's shared
 * services are used by other test files at the same time and must never be
 * stopped, so these run from the system binaries on free ports in a temporary
 * folder, and are crashed and restarted at will.
 */
export const PG_BIN = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'].find((d) => fs.existsSync(path.join(d, 'pg_ctl')));
export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((f) => fs.existsSync(f));

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
}

export function privatePostgres(dir: string, port: number) {
  const asRoot = process.getuid?.() === 0;
  const run = (bin: string, args: string[]) => {
    const file = path.join(PG_BIN!, bin);
    // initdb and postgres refuse to run as root: run them as the postgres account.
    return asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { stdio: 'pipe' }) : execFileSync(file, args, { stdio: 'pipe' });
  };
  const data = path.join(dir, 'pgdata');
  const pgCtl = (...args: string[]) => run('pg_ctl', ['-D', data, '-l', path.join(dir, 'pg.log'), '-w', ...args]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    init() {
      if (asRoot) execFileSync('chown', ['postgres', dir]);
      run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
    },
    start: () => pgCtl('-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'),
    /** `-m immediate`: every backend killed without a checkpoint, crash recovery on the next start (kill -9 of the server). */
    crash: () => pgCtl('-m', 'immediate', 'stop'),
    stop: () => {
      try {
        pgCtl('-m', 'immediate', 'stop');
      } catch {
        /* not running */
      }
    },
  };
}

export function privateRedis(dir: string, port: number) {
  let child: ChildProcess | undefined;
  const up = async () => {
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); }).on('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`private redis-server on ${port} did not start`);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      // Persistence on (appendonly): a restarted server still holds the jobs it accepted before the kill.
      child = spawn(REDIS_SERVER!, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
      await up();
    },
    async kill() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    },
  };
}

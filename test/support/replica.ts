import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A PostgreSQL primary and its streaming hot standby, made from the machine's PostgreSQL 15
 * binaries in a temporary folder (initdb, pg_basebackup -R) on ports of their own. The
 * system cluster and its configuration are not touched. PostgreSQL refuses to run as root,
 * so when the tests run as root the servers run as the `postgres` OS user in a folder it owns.
 */
export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const pgBinariesPresent = fs.existsSync(path.join(PG_BIN, 'pg_basebackup')) && fs.existsSync(path.join(PG_BIN, 'initdb'));

const asRoot = process.getuid?.() === 0;
function run(bin: string, args: string[]): string {
  const file = path.join(PG_BIN, bin);
  return asRoot
    ? execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    : execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

export interface ReplicaPair {
  primaryUrl: string;
  standbyUrl: string;
  /** Superuser URLs of each server's `postgres` database (to pause replay, read LSNs). */
  adminPrimary: string;
  adminStandby: string;
  stop(): void;
}

export async function startReplicaPair(database = 'ocsuite'): Promise<ReplicaPair> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-replica-'));
  if (asRoot) execFileSync('chown', ['postgres:postgres', dir]);
  const primary = path.join(dir, 'primary');
  const standby = path.join(dir, 'standby');
  const [p1, p2] = [await freePort(), await freePort()];
  const started: string[] = [];
  const stop = () => {
    for (const d of started.reverse()) {
      try {
        run('pg_ctl', ['-D', d, '-m', 'immediate', '-w', 'stop']);
      } catch {
        /* already down */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    // trust on loopback only, replication included (initdb's default pg_hba has the replication lines).
    run('initdb', ['-D', primary, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
    fs.appendFileSync(path.join(primary, 'postgresql.conf'), [
      `port = ${p1}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`,
      'wal_level = replica', 'max_wal_senders = 4', 'hot_standby = on', 'fsync = off', 'synchronous_commit = off',
      'max_connections = 60', 'shared_buffers = 32MB',
    ].join('\n') + '\n');
    run('pg_ctl', ['-D', primary, '-l', path.join(dir, 'primary.log'), '-w', 'start']);
    started.push(primary);
    run('psql', ['-h', '127.0.0.1', '-p', String(p1), '-U', 'postgres', '-d', 'postgres', '-qc', `CREATE DATABASE ${database}`]);
    // -R writes standby.signal and primary_conninfo: the copy starts as a streaming hot standby.
    run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(p1), '-U', 'postgres', '-D', standby, '-R', '-X', 'stream', '-c', 'fast']);
    fs.appendFileSync(path.join(standby, 'postgresql.conf'), `port = ${p2}\n`);
    run('pg_ctl', ['-D', standby, '-l', path.join(dir, 'standby.log'), '-w', 'start']);
    started.push(standby);
  } catch (err) {
    stop();
    const e = err as { stderr?: string; message: string };
    throw new Error(`replica setup failed: ${e.stderr ?? e.message}`);
  }
  return {
    primaryUrl: `postgres://postgres@127.0.0.1:${p1}/${database}`,
    standbyUrl: `postgres://postgres@127.0.0.1:${p2}/${database}`,
    adminPrimary: `postgres://postgres@127.0.0.1:${p1}/postgres`,
    adminStandby: `postgres://postgres@127.0.0.1:${p2}/postgres`,
    stop,
  };
}

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootPlatform, shutdownPlatform } from '../../src/boot.ts';
import { loadConfig } from '../../src/config/config.ts';
import { openDatabase } from '../../src/db/open.ts';
import type { Platform } from '../../src/kernel/platform.ts';
import { toProblem } from '../../src/http/error-handler.ts';
import { buildServer } from '../../src/server.ts';
import { bearer, json, signup, type Account } from '../support/app.ts';

/**
 * Issue #19 §5: disk full on the embedded data folder. The folder is a small tmpfs
 * of the test's own (the tests run as root), filled up with a file while the app
 * runs. Writes must answer a clear 507 naming the disk — not a 500 — the process
 * must live on, and once space is freed it serves writes again from an intact
 * folder (reopened from disk, everything committed before is there).
 * Embedded only by nature; runs the same under both test profiles.
 */
let mnt: string;
let mounted = false;
const filler = () => path.join(mnt, 'filler');
const sink = () => new Writable({ write(_c, _e, done) { done(); } });
const envOf = (dir: string) => ({
  OCSUITE_MASTER_KEYS: process.env.OCSUITE_TEST_MASTER_KEYS!, OCSUITE_RATE_LIMIT: '100000', OCSUITE_AUTH_RATE_LIMIT: '100000',
  PUBLIC_URL: 'http://ocsuite.test', OCSUITE_ACCESS_LOG: 'false', OCSUITE_DATA_DIR: dir, LOG_LEVEL: 'warn',
});

async function boot() {
  // No DATABASE_URL: the embedded profile on the tmpfs, whatever profile the suite runs.
  const config = loadConfig(envOf(mnt));
  const platform = await bootPlatform(config, { db: await openDatabase(config), logDestination: sink(), workers: false });
  return { platform, app: await buildServer(platform) };
}

beforeAll(() => {
  mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-diskfull-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=160m', 'tmpfs', mnt]);
  mounted = true;
});
afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mnt]);
  fs.rmSync(mnt, { recursive: true, force: true });
});

describe('disk full on the embedded data folder', () => {
  let platform: Platform | undefined;
  let app: Awaited<ReturnType<typeof buildServer>> | undefined;
  let owner: Account;
  afterAll(async () => {
    await app?.close().catch(() => {});
    if (platform) await shutdownPlatform(platform).catch(() => {});
  });

  it('answers 507 naming the disk (never 500), stays up, and serves again from an intact folder once space is freed', async () => {
    ({ platform, app } = await boot());
    owner = await signup(app, 'Disk full');
    const create = (code: string) => app!.inject({ method: 'POST', url: '/api/v1/ledger/accounts', headers: bearer(owner), payload: { code, name: 'n'.repeat(200), asset: 'EUR' } });
    const before = json(await create(`before-${randomUUID().slice(0, 8)}`)) as { id: string; code: string };

    // Fill the file system to the last block (dd stops with ENOSPC).
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler()}`, 'bs=1M', 'count=1000'], { stdio: 'pipe' });
    } catch {
      /* "No space left on device": the point */
    }
    expect(fs.statfsSync(mnt).bavail).toBe(0);

    // PostgreSQL's pages have some free room: the first writes may still fit; a full disk shows within a few hundred.
    const refused: string[] = [];
    const accepted: string[] = [];
    for (let i = 0; i < 400 && refused.length < 5; i++) {
      const code = `full-${i}-${randomUUID().slice(0, 8)}`;
      const res = await create(code);
      if (res.statusCode === 201) {
        accepted.push(code);
        continue;
      }
      expect(res.statusCode, res.body).toBe(507);
      expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
      const body = JSON.parse(res.body);
      expect(body).toMatchObject({ status: 507, code: 'OCS_INSUFFICIENT_STORAGE', type: 'urn:ocsuite:problem:insufficient-storage' });
      expect(body.detail).toMatch(/disk is full/);
      expect(res.body).not.toMatch(/base\/\d|_fsm|53100|stack/); // no file names or internals of the database
      refused.push(code);
    }
    expect(refused.length, 'writes on a full disk were refused').toBe(5);
    // Alive: reads are answered, and the process did not exit.
    expect((await app.inject({ method: 'GET', url: `/api/v1/ledger/accounts/${before.id}`, headers: bearer(owner) })).statusCode).toBe(200);

    fs.rmSync(filler());
    const after = await create(`after-${randomUUID().slice(0, 8)}`);
    expect(after.statusCode, after.body).toBe(201);

    // The folder is intact: closed and opened again from disk, what was committed is there, what was refused is not.
    await app.close();
    await shutdownPlatform(platform);
    app = undefined;
    platform = undefined;
    ({ platform, app } = await boot());
    const codes = new Set<string>();
    for (let cursor: string | null = null, first = true; first || cursor; first = false) {
      const page = json(await app.inject({ method: 'GET', url: `/api/v1/ledger/accounts?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, headers: bearer(owner) })) as { items: Array<{ code: string }>; nextCursor: string | null };
      for (const a of page.items) codes.add(a.code);
      cursor = page.nextCursor;
    }
    expect(codes.has(before.code)).toBe(true);
    expect(codes.has(json(after).code)).toBe(true);
    for (const c of accepted) expect(codes.has(c), c).toBe(true);
    for (const c of refused) expect(codes.has(c), c).toBe(false);
    expect((await create(`reopened-${randomUUID().slice(0, 8)}`)).statusCode).toBe(201);
  }, 90_000);
});

describe('what a full disk looks like to each driver maps to 507', () => {
  it('SQLSTATE 53100 (PostgreSQL, PGlite) and a bare or wrapped ENOSPC; a neighbouring 53xxx code does not', () => {
    const as = (e: object) => toProblem(Object.assign(new Error('x'), e) as Parameters<typeof toProblem>[0]);
    for (const e of [{ code: '53100' }, { code: 'ENOSPC' }, { cause: Object.assign(new Error('write'), { code: 'ENOSPC' }) }]) {
      const p = as(e);
      expect([p.status, p.code, p.headers?.['retry-after']], JSON.stringify(e)).toEqual([507, 'OCS_INSUFFICIENT_STORAGE', '60']);
    }
    expect(as({ code: '53200' }).status).toBe(500); // out_of_memory: not a disk to free
  });
});

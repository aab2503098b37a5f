import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKeyFile, loadMasterKeys } from '../../src/kernel/crypto/index.ts';
import { expectCryptoError } from './fixtures.ts';

const posix = process.platform !== 'win32';

describe.runIf(posix)('createKeyFile (embedded profile)', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'ocsuite-keyfile-'));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('creates a 0600 key file (and a 0700 directory) with one primary key k1', () => {
    const path = join(root, 'state', 'master.keys');
    const { keyring, created } = createKeyFile(path);
    expect(created).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'state')).mode & 0o777).toBe(0o700);
    expect(keyring.ids()).toEqual(['k1']);
    expect(keyring.primary.key.length).toBe(32);
    expect(readFileSync(path, 'utf8')).toContain('k1:');
  });

  it('reuses the same key on the second call', () => {
    const path = join(root, 'master.keys');
    const first = createKeyFile(path);
    const second = createKeyFile(path);
    expect(second.created).toBe(false);
    expect(second.keyring.primary.key.equals(first.keyring.primary.key)).toBe(true);
    expect(loadMasterKeys({ file: path }).primary.key.equals(first.keyring.primary.key)).toBe(true);
  });

  it('refuses a key file readable by group or others', () => {
    const path = join(root, 'master.keys');
    createKeyFile(path);
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      chmodSync(path, mode);
      const error = expectCryptoError(() => createKeyFile(path), 'ERR_KEYFILE_PERMISSIONS');
      expect(error.message).toContain(path);
    }
  });

  it('does not overwrite an existing file, and names the file on parse errors without leaking keys', () => {
    const path = join(root, 'master.keys');
    const shortKey = randomBytes(16).toString('base64');
    writeFileSync(path, `k1:${shortKey}\n`, { mode: 0o600 });
    const error = expectCryptoError(() => createKeyFile(path), 'ERR_KEYRING_INVALID');
    expect(error.message).toContain(path);
    expect(error.message).not.toContain(shortKey);
    expect(readFileSync(path, 'utf8')).toBe(`k1:${shortKey}\n`);
  });

  it('reports a missing mounted file as ERR_KEYRING_MISSING', () => {
    expectCryptoError(() => loadMasterKeys({ file: join(root, 'absent') }), 'ERR_KEYRING_MISSING');
  });
});

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateDataKey,
  masterKeyIdOf,
  rewrapDataKey,
  unwrapDataKey,
  wrapDataKey,
} from '../../src/kernel/crypto/index.ts';
import { expectCryptoError, mapBlob, newKeyring, withNewPrimary } from './fixtures.ts';

const ctx = { tenantId: 'tenant-a', version: 1 };

describe('tenant data keys', () => {
  it('generates distinct 32-byte keys', () => {
    const a = generateDataKey();
    expect(a.length).toBe(32);
    expect(a.equals(generateDataKey())).toBe(false);
  });

  it('wraps under the primary and unwraps to the same key', () => {
    const keyring = newKeyring(['m1', 'm2']);
    const dataKey = generateDataKey();
    const wrapped = wrapDataKey(keyring, ctx, dataKey);
    expect(wrapped).toMatch(/^okw1\.m2\.[A-Za-z0-9_-]+$/);
    expect(masterKeyIdOf(wrapped)).toBe('m2');
    expect(unwrapDataKey(keyring, ctx, wrapped).equals(dataKey)).toBe(true);
  });

  it('is bound to tenant and version', () => {
    const keyring = newKeyring();
    const wrapped = wrapDataKey(keyring, ctx, generateDataKey());
    expectCryptoError(() => unwrapDataKey(keyring, { tenantId: 'tenant-b', version: 1 }, wrapped), 'ERR_DATAKEY_UNWRAP_FAILED');
    expectCryptoError(() => unwrapDataKey(keyring, { tenantId: 'tenant-a', version: 2 }, wrapped), 'ERR_DATAKEY_UNWRAP_FAILED');
  });

  it('fails under a different keyring (same id, other key), an unknown id, or a retired key', () => {
    const keyring = newKeyring(['k1', 'k2']);
    const wrapped = wrapDataKey(keyring, ctx, generateDataKey());
    expectCryptoError(() => unwrapDataKey(newKeyring(['k1', 'k2']), ctx, wrapped), 'ERR_DATAKEY_UNWRAP_FAILED');
    expectCryptoError(() => unwrapDataKey(newKeyring(['other']), ctx, wrapped), 'ERR_KEY_UNKNOWN');

    // Retire k2 after k3 takes over as primary.
    const rotated = withNewPrimary(keyring, 'k3');
    rotated.retire('k2');
    expectCryptoError(() => unwrapDataKey(rotated, ctx, wrapped), 'ERR_KEY_RETIRED');
  });

  it('rejects tampered, truncated and relabelled tokens', () => {
    const keyring = newKeyring(['k1', 'k2']);
    const wrapped = wrapDataKey(keyring, ctx, generateDataKey());
    for (let length = 0; length < wrapped.length; length++) {
      expect(() => unwrapDataKey(keyring, ctx, wrapped.slice(0, length))).toThrow();
    }
    const flipped = mapBlob(wrapped, (blob) => {
      blob[20] = (blob[20] ?? 0) ^ 1;
      return blob;
    });
    expectCryptoError(() => unwrapDataKey(keyring, ctx, flipped), 'ERR_DATAKEY_UNWRAP_FAILED');
    expectCryptoError(() => unwrapDataKey(keyring, ctx, wrapped.replace('okw1.', 'okw2.')), 'ERR_DATAKEY_UNWRAP_FAILED');
    expectCryptoError(() => unwrapDataKey(keyring, ctx, wrapped.replace('.k2.', '.k1.')), 'ERR_DATAKEY_UNWRAP_FAILED');
    expectCryptoError(() => masterKeyIdOf('not a token'), 'ERR_DATAKEY_UNWRAP_FAILED');
  });

  it('rewrap after adding a new primary opens under the new keyring and names the new key', () => {
    const oldKeyring = newKeyring(['k1']);
    const dataKey = generateDataKey();
    const wrapped = wrapDataKey(oldKeyring, ctx, dataKey);

    const rotated = withNewPrimary(oldKeyring, 'k2');
    expect(rotated.primary.id).toBe('k2');

    const rewrapped = rewrapDataKey(rotated, ctx, wrapped);
    expect(masterKeyIdOf(rewrapped)).toBe('k2');
    expect(unwrapDataKey(rotated, ctx, rewrapped).equals(dataKey)).toBe(true);

    // Once every data key is rewrapped the old master key can be retired.
    rotated.retire('k1');
    expect(unwrapDataKey(rotated, ctx, rewrapped).equals(dataKey)).toBe(true);
    expectCryptoError(() => unwrapDataKey(oldKeyring, ctx, rewrapped), 'ERR_KEY_UNKNOWN');

    // Idempotent: a token already under the primary is returned unchanged.
    expect(rewrapDataKey(rotated, ctx, rewrapped)).toBe(rewrapped);
  });

  it('validates inputs', () => {
    const keyring = newKeyring();
    expectCryptoError(() => wrapDataKey(keyring, ctx, randomBytes(16)), 'ERR_KEY_INVALID');
    expectCryptoError(() => wrapDataKey(keyring, { tenantId: '', version: 1 }, generateDataKey()), 'ERR_CONTEXT_INVALID');
    expectCryptoError(() => wrapDataKey(keyring, { tenantId: 't', version: 0 }, generateDataKey()), 'ERR_CONTEXT_INVALID');
    expectCryptoError(() => wrapDataKey(keyring, { tenantId: 't', version: 1.5 }, generateDataKey()), 'ERR_CONTEXT_INVALID');
  });
});

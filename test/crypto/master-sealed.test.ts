import { describe, expect, it } from 'vitest';
import {
  masterKeyIdOfSealed,
  openWithMasterKey,
  resealWithMasterKey,
  sealWithMasterKey,
} from '../../src/kernel/crypto/index.ts';
import { expectCryptoError, mapBlob, newKeyring, withNewPrimary } from './fixtures.ts';

const JWT_CONTEXT = 'platform:jwt-signing-key';

describe('platform secrets sealed with a master key', () => {
  it('round-trips and names the master key', () => {
    const keyring = newKeyring(['m1', 'm2']);
    const token = sealWithMasterKey(keyring, JWT_CONTEXT, '-----BEGIN PRIVATE KEY-----');
    expect(token).toMatch(/^omk1\.m2\.[A-Za-z0-9_-]+$/);
    expect(masterKeyIdOfSealed(token)).toBe('m2');
    expect(openWithMasterKey(keyring, JWT_CONTEXT, token).toString()).toBe('-----BEGIN PRIVATE KEY-----');
  });

  it('fails for another context, keyring, retired key, tampering or truncation', () => {
    const keyring = newKeyring(['m1']);
    const token = sealWithMasterKey(keyring, JWT_CONTEXT, 'secret');
    expectCryptoError(() => openWithMasterKey(keyring, 'platform:smtp-password', token), 'ERR_SEALED_OPEN_FAILED');
    expectCryptoError(() => openWithMasterKey(newKeyring(['m1']), JWT_CONTEXT, token), 'ERR_SEALED_OPEN_FAILED');
    expectCryptoError(() => openWithMasterKey(newKeyring(['zz']), JWT_CONTEXT, token), 'ERR_KEY_UNKNOWN');
    const flipped = mapBlob(token, (blob) => {
      blob[0] = (blob[0] ?? 0) ^ 0x80;
      return blob;
    });
    expectCryptoError(() => openWithMasterKey(keyring, JWT_CONTEXT, flipped), 'ERR_SEALED_OPEN_FAILED');
    expectCryptoError(() => openWithMasterKey(keyring, JWT_CONTEXT, token.slice(0, -4)), 'ERR_SEALED_OPEN_FAILED');
    expectCryptoError(() => openWithMasterKey(keyring, JWT_CONTEXT, token.replace('omk1', 'osv1')), 'ERR_SEALED_OPEN_FAILED');

    const rotated = withNewPrimary(keyring, 'm2');
    rotated.retire('m1');
    expectCryptoError(() => openWithMasterKey(rotated, JWT_CONTEXT, token), 'ERR_KEY_RETIRED');
  });

  it('reseals under a new primary during master rotation', () => {
    const keyring = newKeyring(['m1']);
    const token = sealWithMasterKey(keyring, JWT_CONTEXT, 'secret');
    const rotated = withNewPrimary(keyring, 'm2');
    const resealed = resealWithMasterKey(rotated, JWT_CONTEXT, token);
    expect(masterKeyIdOfSealed(resealed)).toBe('m2');
    rotated.retire('m1');
    expect(openWithMasterKey(rotated, JWT_CONTEXT, resealed).toString()).toBe('secret');
    expect(resealWithMasterKey(rotated, JWT_CONTEXT, resealed)).toBe(resealed);
  });
});

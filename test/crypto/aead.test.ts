import { createSecretKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AEAD_OVERHEAD_BYTES, aeadOpen, aeadSeal, importAeadKey } from '../../src/kernel/crypto/index.ts';
import { expectCryptoError } from './fixtures.ts';

describe('aead (AES-256-GCM)', () => {
  const key = randomBytes(32);
  const aad = Buffer.from('context');

  it('round-trips and uses a fresh nonce each time', () => {
    const plaintext = Buffer.from('attack at dawn');
    const a = aeadSeal(key, plaintext, aad);
    const b = aeadSeal(key, plaintext, aad);
    expect(a.length).toBe(plaintext.length + AEAD_OVERHEAD_BYTES);
    expect(a.subarray(0, 12).equals(b.subarray(0, 12))).toBe(false);
    expect(aeadOpen(key, a, aad).equals(plaintext)).toBe(true);
  });

  it('never repeats a nonce across refills of the nonce pool', () => {
    // 256 nonces per pool fill: 3,000 seals cross eleven refills.
    const nonces = new Set<string>();
    const plaintext = Buffer.from('same plaintext every time');
    for (let i = 0; i < 3_000; i++) {
      const sealed = aeadSeal(key, plaintext, aad);
      nonces.add(sealed.subarray(0, 12).toString('hex'));
      if (i % 255 === 0) expect(aeadOpen(key, sealed, aad).equals(plaintext)).toBe(true);
    }
    expect(nonces.size).toBe(3_000);
  });

  it('takes the key imported once as a KeyObject, interchangeably with its bytes', () => {
    const imported = importAeadKey(key);
    const plaintext = Buffer.from('attack at dusk');
    expect(aeadOpen(key, aeadSeal(imported, plaintext, aad), aad).equals(plaintext)).toBe(true);
    expect(aeadOpen(imported, aeadSeal(key, plaintext, aad), aad).equals(plaintext)).toBe(true);
    expectCryptoError(() => aeadOpen(importAeadKey(randomBytes(32)), aeadSeal(key, plaintext, aad), aad), 'ERR_AEAD_OPEN_FAILED');
  });

  it('refuses KeyObjects of the wrong size or type', () => {
    expectCryptoError(() => importAeadKey(randomBytes(16)), 'ERR_KEY_INVALID');
    expectCryptoError(() => aeadSeal(createSecretKey(randomBytes(16)), Buffer.from('x'), aad), 'ERR_KEY_INVALID');
    const { privateKey } = generateKeyPairSync('ed25519');
    expectCryptoError(() => aeadSeal(privateKey, Buffer.from('x'), aad), 'ERR_KEY_INVALID');
  });

  it('round-trips an empty plaintext', () => {
    expect(aeadOpen(key, aeadSeal(key, Buffer.alloc(0), aad), aad).length).toBe(0);
  });

  it('fails closed on wrong key, wrong AAD, truncation and extension', () => {
    const sealed = aeadSeal(key, Buffer.from('secret'), aad);
    expectCryptoError(() => aeadOpen(randomBytes(32), sealed, aad), 'ERR_AEAD_OPEN_FAILED');
    expectCryptoError(() => aeadOpen(key, sealed, Buffer.from('other')), 'ERR_AEAD_OPEN_FAILED');
    for (let length = 0; length < sealed.length; length++) {
      expectCryptoError(() => aeadOpen(key, sealed.subarray(0, length), aad), 'ERR_AEAD_OPEN_FAILED');
    }
    expectCryptoError(() => aeadOpen(key, Buffer.concat([sealed, Buffer.from([0])]), aad), 'ERR_AEAD_OPEN_FAILED');
  });

  it('rejects keys that are not 32 bytes', () => {
    expectCryptoError(() => aeadSeal(randomBytes(16), Buffer.from('x'), aad), 'ERR_KEY_INVALID');
    expectCryptoError(() => aeadOpen(randomBytes(31), Buffer.alloc(40), aad), 'ERR_KEY_INVALID');
  });
});

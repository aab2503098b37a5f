import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AEAD_OVERHEAD_BYTES, aeadOpen, aeadSeal } from '../../src/kernel/crypto/index.ts';
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

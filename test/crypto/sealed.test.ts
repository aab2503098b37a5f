import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  dataKeyVersionOf,
  generateDataKey,
  openValue,
  sealValue,
  type SealedContext,
} from '../../src/kernel/crypto/index.ts';
import { cellContext, expectCryptoError, mapBlob } from './fixtures.ts';

const OPEN_FAILED = 'ERR_SEALED_OPEN_FAILED';

describe('sealed tenant values', () => {
  const dataKey = generateDataKey();
  const ctx = cellContext();

  it('round-trips strings and bytes and names the data-key version', () => {
    const token = sealValue(dataKey, cellContext({ dataKeyVersion: 7 }), 'sk_live_abcdef');
    expect(token).toMatch(/^osv1\.7\.[A-Za-z0-9_-]+$/);
    expect(dataKeyVersionOf(token)).toBe(7);
    expect(openValue(dataKey, cellContext({ dataKeyVersion: 7 }), token).toString('utf8')).toBe('sk_live_abcdef');
    const bytes = randomBytes(64);
    expect(openValue(dataKey, ctx, sealValue(dataKey, ctx, bytes)).equals(bytes)).toBe(true);
  });

  it('never produces the same token twice for the same value', () => {
    expect(sealValue(dataKey, ctx, 'same')).not.toBe(sealValue(dataKey, ctx, 'same'));
  });

  it('fails when any single context field changes', () => {
    const token = sealValue(dataKey, ctx, 'secret');
    const changes: Partial<SealedContext>[] = [
      { tenantId: 'tenant-b' },
      { table: 'webhooks' },
      { column: 'signing_secret' },
      { rowId: '0b9e6c1e-4a3a-4a57-9d57-3f6f0d2a7c12' },
      { dataKeyVersion: 2 },
    ];
    for (const change of changes) {
      expectCryptoError(() => openValue(dataKey, cellContext(change), token), OPEN_FAILED);
    }
  });

  it('fails when only the data-key version in both token header and context is changed', () => {
    const token = sealValue(dataKey, ctx, 'secret');
    const relabelled = token.replace(/^osv1\.1\./, 'osv1.2.');
    expectCryptoError(() => openValue(dataKey, cellContext({ dataKeyVersion: 2 }), relabelled), OPEN_FAILED);
  });

  it('keeps field boundaries unambiguous', () => {
    const token = sealValue(dataKey, cellContext({ table: 'a|b', column: 'c' }), 'secret');
    expectCryptoError(() => openValue(dataKey, cellContext({ table: 'a', column: 'b|c' }), token), OPEN_FAILED);
  });

  it('fails for ciphertexts swapped between two rows', () => {
    const rowA = cellContext({ rowId: 'row-a' });
    const rowB = cellContext({ rowId: 'row-b' });
    const tokenA = sealValue(dataKey, rowA, 'alpha');
    const tokenB = sealValue(dataKey, rowB, 'bravo');
    expectCryptoError(() => openValue(dataKey, rowB, tokenA), OPEN_FAILED);
    expectCryptoError(() => openValue(dataKey, rowA, tokenB), OPEN_FAILED);
  });

  it('fails for ciphertexts swapped between two tenants (with either tenant key)', () => {
    const keyA = generateDataKey();
    const keyB = generateDataKey();
    const tenantA = cellContext({ tenantId: 'tenant-a' });
    const tenantB = cellContext({ tenantId: 'tenant-b' });
    const tokenA = sealValue(keyA, tenantA, 'alpha');
    expectCryptoError(() => openValue(keyB, tenantB, tokenA), OPEN_FAILED);
    expectCryptoError(() => openValue(keyA, tenantB, tokenA), OPEN_FAILED);
    expectCryptoError(() => openValue(keyB, tenantA, tokenA), OPEN_FAILED);
  });

  it('fails on every truncation and on appended bytes', () => {
    const token = sealValue(dataKey, ctx, 'secret');
    for (let length = 0; length < token.length; length++) {
      expectCryptoError(() => openValue(dataKey, ctx, token.slice(0, length)), OPEN_FAILED);
    }
    expectCryptoError(() => openValue(dataKey, ctx, mapBlob(token, (blob) => blob.subarray(0, blob.length - 1))), OPEN_FAILED);
    expectCryptoError(() => openValue(dataKey, ctx, mapBlob(token, (blob) => Buffer.concat([blob, Buffer.from([0])]))), OPEN_FAILED);
    expectCryptoError(() => openValue(dataKey, ctx, `${token}A`), OPEN_FAILED);
  });

  it('fails for every single bit flipped in nonce, ciphertext and tag', () => {
    const token = sealValue(dataKey, ctx, 'pin');
    const length = Buffer.from(token.split('.')[2] ?? '', 'base64url').length;
    let attempts = 0;
    for (let byte = 0; byte < length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const tampered = mapBlob(token, (blob) => {
          blob[byte] = (blob[byte] ?? 0) ^ (1 << bit);
          return blob;
        });
        expectCryptoError(() => openValue(dataKey, ctx, tampered), OPEN_FAILED);
        attempts++;
      }
    }
    expect(attempts).toBe(length * 8);
  });

  it('fails for altered headers and malformed tokens', () => {
    const token = sealValue(dataKey, ctx, 'secret');
    const body = token.slice('osv1.1.'.length);
    for (const bad of [
      `osv2.1.${body}`,
      `OSV1.1.${body}`,
      `osv1.01.${body}`,
      `osv1.0.${body}`,
      `osv1.-1.${body}`,
      `osv1..${body}`,
      `osv1.1.${body}.x`,
      `osv1.1.${body}=`,
      `osv1.1.${body.replace(/.$/, '+')}`,
      `osv1.99999999999999999.${body}`,
      `omk1.1.${body}`,
      '',
    ]) {
      expectCryptoError(() => openValue(dataKey, ctx, bad), OPEN_FAILED);
    }
    expectCryptoError(() => dataKeyVersionOf('osv1.x.AAAA'), OPEN_FAILED);
  });

  it('fails with the wrong data key', () => {
    expectCryptoError(() => openValue(generateDataKey(), ctx, sealValue(dataKey, ctx, 'secret')), OPEN_FAILED);
  });

  it('validates key, context and plaintext without echoing them', () => {
    expectCryptoError(() => sealValue(randomBytes(16), ctx, 'x'), 'ERR_KEY_INVALID');
    expectCryptoError(() => sealValue(dataKey, cellContext({ rowId: '' }), 'x'), 'ERR_CONTEXT_INVALID');
    expectCryptoError(() => sealValue(dataKey, cellContext({ tenantId: '\uD800' }), 'x'), 'ERR_CONTEXT_INVALID');
    const error = expectCryptoError(() => sealValue(dataKey, ctx, 'hunter2\uD800'), 'ERR_PLAINTEXT_INVALID');
    expect(error.message).not.toContain('hunter2');
  });

  it('never puts plaintext in open errors', () => {
    const token = sealValue(dataKey, ctx, 'correct-horse-battery');
    const error = expectCryptoError(() => openValue(dataKey, cellContext({ rowId: 'other' }), token), OPEN_FAILED);
    expect(error.message).not.toContain('correct-horse');
  });
});

import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { CryptoError, parseMasterKeys, serializeKeyring, type Keyring, type SealedContext } from '../../src/kernel/crypto/index.ts';

/** Keys are generated per run; no key or base64 key literal is ever committed. */
export function newKeyring(ids: readonly string[] = ['k1']): Keyring {
  return parseMasterKeys(serializeKeyring(ids.map((id) => ({ id, key: randomBytes(32) }))));
}

export function cellContext(overrides: Partial<SealedContext> = {}): SealedContext {
  return {
    tenantId: 'tenant-a',
    dataKeyVersion: 1,
    table: 'integrations',
    column: 'api_token',
    rowId: '0b9e6c1e-4a3a-4a57-9d57-3f6f0d2a7c11',
    ...overrides,
  };
}

export function expectCryptoError(fn: () => unknown, code: string): CryptoError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CryptoError);
  expect((caught as CryptoError).code).toBe(code);
  return caught as CryptoError;
}

/** Rebuilds a token with its base64url blob transformed, keeping the header. */
export function mapBlob(token: string, transform: (blob: Buffer) => Buffer): string {
  const [prefix, label, encoded] = token.split('.');
  return `${prefix}.${label}.${transform(Buffer.from(encoded ?? '', 'base64url')).toString('base64url')}`;
}

/** Master-key rotation as tooling would do it: append a fresh key that becomes primary. */
export function withNewPrimary(keyring: Keyring, id: string): Keyring {
  const kept = keyring.entries().map(({ id: keptId, key }) => ({ id: keptId, key }));
  return parseMasterKeys(serializeKeyring([...kept, { id, key: randomBytes(32) }]));
}

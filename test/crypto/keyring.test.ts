import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Keyring, loadMasterKeys, parseMasterKeys, serializeKeyring } from '../../src/kernel/crypto/index.ts';
import { expectCryptoError } from './fixtures.ts';

const b64 = (bytes: Buffer): string => bytes.toString('base64');

/** An error must not leak the key text, nor any long piece of it. */
function expectNoKeyText(error: Error, ...keyTexts: string[]): void {
  const surfaces = [error.message, String(error.stack), JSON.stringify(error), inspect(error)];
  for (const keyText of keyTexts) {
    for (const surface of surfaces) {
      expect(surface).not.toContain(keyText);
      expect(surface).not.toContain(keyText.slice(0, 12));
      expect(surface).not.toContain(keyText.slice(-13, -1));
    }
  }
}

describe('parseMasterKeys', () => {
  it('accepts comma- and newline-separated entries; last is primary by default', () => {
    const [a, b, c] = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const keyring = parseMasterKeys(`k1:${b64(a)}, k2:${b64(b)}\n# comment\r\nk3:${b64(c)}\n`);
    expect(keyring.ids()).toEqual(['k1', 'k2', 'k3']);
    expect(keyring.primary.id).toBe('k3');
    expect(keyring.primary.key.equals(c)).toBe(true);
    expect(keyring.get('k1').key.equals(a)).toBe(true);
  });

  it('honours one * primary marker', () => {
    const keyring = parseMasterKeys(`old:${b64(randomBytes(32))},*new:${b64(randomBytes(32))},next:${b64(randomBytes(32))}`);
    expect(keyring.primary.id).toBe('new');
  });

  it('rejects duplicate ids, naming the id but not the key', () => {
    const first = b64(randomBytes(32));
    const second = b64(randomBytes(32));
    const error = expectCryptoError(() => parseMasterKeys(`dup:${first},dup:${second}`), 'ERR_KEYRING_INVALID');
    expect(error.message).toContain('"dup"');
    expectNoKeyText(error, first, second);
  });

  it('rejects keys that are not 32 bytes, naming the entry but not the key', () => {
    const short = b64(randomBytes(31));
    const long = b64(randomBytes(33));
    const shortError = expectCryptoError(() => parseMasterKeys(`ok:${b64(randomBytes(32))},short:${short}`), 'ERR_KEYRING_INVALID');
    expect(shortError.message).toContain('"short"');
    expect(shortError.message).toContain('#2');
    expectNoKeyText(shortError, short);
    const longError = expectCryptoError(() => parseMasterKeys(`long:${long}`), 'ERR_KEYRING_INVALID');
    expect(longError.message).toContain('"long"');
    expectNoKeyText(longError, long);
  });

  it('rejects bad or non-canonical base64 without echoing it', () => {
    const key = b64(randomBytes(32));
    for (const encoded of [key.replace('=', ''), `${key.slice(0, 20)}!${key.slice(21)}`, `${key}==`, key.replace(/[A-Za-z0-9+/]=$/, 'B=')]) {
      if (encoded === key) continue;
      const error = expectCryptoError(() => parseMasterKeys(`bad:${encoded}`), 'ERR_KEYRING_INVALID');
      expect(error.message).toContain('"bad"');
      expectNoKeyText(error, encoded);
    }
  });

  it('rejects entries without an id, with an invalid id, or pasted bare — by position only', () => {
    const key = b64(randomBytes(32));
    for (const text of [key, `:${key}`, `bad id:${key}`, `${'x'.repeat(33)}:${key}`, `k1:${b64(randomBytes(32))},${key}`]) {
      const error = expectCryptoError(() => parseMasterKeys(text), 'ERR_KEYRING_INVALID');
      expect(error.message).toMatch(/#\d/);
      expectNoKeyText(error, key);
    }
  });

  it('rejects two primary markers, empty input and the same key under two ids', () => {
    const key = randomBytes(32);
    expectCryptoError(() => parseMasterKeys(`*a:${b64(randomBytes(32))},*b:${b64(randomBytes(32))}`), 'ERR_KEYRING_INVALID');
    expectCryptoError(() => parseMasterKeys(' ,\n# only a comment\n'), 'ERR_KEYRING_INVALID');
    const error = expectCryptoError(() => parseMasterKeys(`a:${b64(key)},b:${b64(key)}`), 'ERR_KEYRING_INVALID');
    expectNoKeyText(error, b64(key));
  });
});

describe('a misplaced primary marker (issue #23 §5)', () => {
  it('is reported as a misplaced marker, with the right form, not as bad base64 or a bad id', () => {
    const key = b64(randomBytes(32));
    const other = `k1:${b64(randomBytes(32))}`;
    for (const text of [`k2:*${key},${other}`, `k2*:${key},${other}`, `k2:${key}*,${other}`, `**k2:${key},${other}`, `${other},k2:${key.slice(0, 10)}*${key.slice(11)}`]) {
      const error = expectCryptoError(() => parseMasterKeys(text), 'ERR_KEYRING_INVALID');
      expect(error.message).toContain('primary marker * in the wrong place');
      expect(error.message).toContain('*k2:<base64>');
      expect(error.message).not.toMatch(/canonical|invalid id|not in the form/);
      expect(error.message).toMatch(/entry #[12]/);
      expectNoKeyText(error, key);
    }
  });

  it('accepts the documented form, also with a space after the marker', () => {
    const [a, b] = [b64(randomBytes(32)), b64(randomBytes(32))];
    expect(parseMasterKeys(`*k2:${a},k1:${b}`).primary.id).toBe('k2');
    expect(parseMasterKeys(`k1:${b}\n* k2:${a}`).primary.id).toBe('k2');
    expect(loadMasterKeys({ env: `k1:${b},*k2:${a}` }).primary.id).toBe('k2');
  });
});

describe('Keyring', () => {
  it('get throws ERR_KEY_UNKNOWN for ids it does not hold', () => {
    const keyring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
    expectCryptoError(() => keyring.get('k2'), 'ERR_KEY_UNKNOWN');
  });

  it('retire makes get throw ERR_KEY_RETIRED and cannot retire the primary', () => {
    const keyring = new Keyring([{ id: 'k1', key: randomBytes(32) }, { id: 'k2', key: randomBytes(32) }], 'k2');
    keyring.retire('k1');
    expect([...keyring.retired]).toEqual(['k1']);
    expectCryptoError(() => keyring.get('k1'), 'ERR_KEY_RETIRED');
    expectCryptoError(() => keyring.retire('k2'), 'ERR_KEYRING_INVALID');
    expectCryptoError(() => keyring.retire('nope'), 'ERR_KEY_UNKNOWN');
    expect(keyring.ids()).toEqual(['k1', 'k2']);
  });

  it('does not reveal key material when logged or JSON-encoded', () => {
    const key = randomBytes(32);
    const keyring = new Keyring([{ id: 'k1', key }], 'k1');
    for (const text of [inspect(keyring), JSON.stringify(keyring), inspect(keyring.primary), JSON.stringify(keyring.primary)]) {
      expect(text).toContain('k1');
      expect(text).not.toContain(b64(key));
      expect(text).not.toContain(key.toString('hex').slice(0, 16));
    }
  });

  it('copies key bytes so callers cannot mutate the keyring', () => {
    const key = randomBytes(32);
    const original = Buffer.from(key);
    const keyring = new Keyring([{ id: 'k1', key }], 'k1');
    key.fill(0);
    expect(keyring.primary.key.equals(original)).toBe(true);
  });
});

describe('serializeKeyring', () => {
  it('round-trips through parseMasterKeys, marking a non-last primary only', () => {
    const entries = [
      { id: 'a', key: randomBytes(32) },
      { id: 'b', key: randomBytes(32), primary: true },
      { id: 'c', key: randomBytes(32) },
    ];
    const text = serializeKeyring(entries);
    expect(text).toContain('*b:');
    const keyring = parseMasterKeys(text);
    expect(keyring.primary.id).toBe('b');
    expect(serializeKeyring(keyring.entries())).toBe(text);
    expect(serializeKeyring([{ id: 'only', key: randomBytes(32), primary: true }])).not.toContain('*');
  });

  it('validates what it writes', () => {
    expectCryptoError(() => serializeKeyring([]), 'ERR_KEYRING_INVALID');
    expectCryptoError(() => serializeKeyring([{ id: 'a', key: randomBytes(16) }]), 'ERR_KEYRING_INVALID');
  });
});

describe('loadMasterKeys', () => {
  it('reads the env text', () => {
    expect(loadMasterKeys({ env: `k9:${b64(randomBytes(32))}` }).primary.id).toBe('k9');
  });

  it('refuses no source and two sources', () => {
    expectCryptoError(() => loadMasterKeys({}), 'ERR_KEYRING_MISSING');
    expectCryptoError(() => loadMasterKeys({ env: '  ' }), 'ERR_KEYRING_MISSING');
    expectCryptoError(() => loadMasterKeys({ env: `k1:${b64(randomBytes(32))}`, file: '/run/secrets/keys' }), 'ERR_KEYRING_INVALID');
  });
});

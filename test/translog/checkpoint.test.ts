// Signed tree heads: C2SP tlog-checkpoint in a C2SP signed-note, Ed25519.
// Keys are generated at run time; none is committed.

import { generateKeyPairSync, verify } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import {
  TranslogError,
  ed25519KeyId,
  leafHash,
  parseCheckpoint,
  parseVerifierKey,
  rootFromLeaves,
  signCheckpoint,
  verifierKeyString,
  verifyCheckpoint,
} from '../../src/kernel/translog/index.ts';

const keyName = 'ocsuite.example/log/test';
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const root = rootFromLeaves([leafHash(Buffer.from('a')), leafHash(Buffer.from('b')), leafHash(Buffer.from('c'))]);
const head = { origin: keyName, size: 3, root };
const note = signCheckpoint(head, { keyName, privateKey });
const verifier = { keyName, publicKey };

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(TranslogError);
  expect((thrown as TranslogError).code).toBe(code);
}

/** Replaces the `line`th line of the note text, keeping the signature. */
function withLine(line: number, value: string): string {
  const lines = note.split('\n');
  lines[line] = value;
  return lines.join('\n');
}

describe('signCheckpoint / verifyCheckpoint', () => {
  it('produces the tlog-checkpoint layout with one signature line', () => {
    const [text, signatures] = note.split('\n\n');
    expect(text).toBe(`${keyName}\n3\n${root.toString('base64')}`);
    expect(signatures).toMatch(new RegExp(`^\u2014 ${keyName} [A-Za-z0-9+/]{91}=\n$`));
    const parsed = parseCheckpoint(note);
    expect(parsed.signatures).toHaveLength(1);
    expect(parsed.signatures[0]?.keyId.equals(ed25519KeyId(keyName, publicKey))).toBe(true);
    expect(parsed.signatures[0]?.signature).toHaveLength(64);
    expect(parsed.text).toBe(`${keyName}\n3\n${root.toString('base64')}\n`);
    expect(parsed.extensions).toEqual([]);
  });

  it('round-trips', () => {
    const verified = verifyCheckpoint(note, verifier);
    expect(verified.origin).toBe(keyName);
    expect(verified.size).toBe(3);
    expect(verified.root.equals(root)).toBe(true);
  });

  it('round-trips the empty tree', () => {
    const empty = { origin: keyName, size: 0, root: rootFromLeaves([]) };
    const verified = verifyCheckpoint(signCheckpoint(empty, { keyName, privateKey }), verifier);
    expect(verified.size).toBe(0);
    expect(verified.root.equals(empty.root)).toBe(true);
  });

  it('rejects an altered origin, size or root', () => {
    expectCode(() => verifyCheckpoint(withLine(0, 'ocsuite.example/log/other'), verifier), 'ERR_TRANSLOG_SIGNATURE_INVALID');
    expectCode(() => verifyCheckpoint(withLine(1, '4'), verifier), 'ERR_TRANSLOG_SIGNATURE_INVALID');
    const otherRoot = rootFromLeaves([leafHash(Buffer.from('x'))]).toString('base64');
    expectCode(() => verifyCheckpoint(withLine(2, otherRoot), verifier), 'ERR_TRANSLOG_SIGNATURE_INVALID');
  });

  it('rejects an altered signature', () => {
    const parsed = parseCheckpoint(note);
    const sig = parsed.signatures[0];
    if (!sig) throw new Error('no signature');
    const bytes = Buffer.concat([sig.keyId, sig.signature]);
    bytes[10] = (bytes[10] as number) ^ 0x01;
    const tampered = `${parsed.text}\n\u2014 ${keyName} ${bytes.toString('base64')}\n`;
    expectCode(() => verifyCheckpoint(tampered, verifier), 'ERR_TRANSLOG_SIGNATURE_INVALID');
  });

  it('does not verify with another key or another key name', () => {
    expectCode(() => verifyCheckpoint(note, { keyName, publicKey: other.publicKey }), 'ERR_TRANSLOG_CHECKPOINT_UNVERIFIED');
    expectCode(() => verifyCheckpoint(note, { keyName: 'someone.else/log', publicKey }), 'ERR_TRANSLOG_CHECKPOINT_UNVERIFIED');
  });

  it('ignores signatures from unknown keys (cosigners, rotated keys)', () => {
    const cosigned = signCheckpoint(head, { keyName: 'witness.example', privateKey: other.privateKey });
    const cosignatureLine = cosigned.slice(cosigned.lastIndexOf('\n\n') + 2);
    const both = note + cosignatureLine;
    expect(verifyCheckpoint(both, verifier).size).toBe(3);
    expect(verifyCheckpoint(both, { keyName: 'witness.example', publicKey: other.publicKey }).size).toBe(3);
  });

  it('rejects malformed notes', () => {
    const rootB64 = root.toString('base64');
    const sigLine = note.slice(note.lastIndexOf('\n\n') + 2);
    const malformed = [
      '',
      note.slice(0, -1), // no final newline
      note.replace('\n\n', '\n'), // no blank line
      `${keyName}\n3\n${rootB64}\n\n`, // no signature
      `${keyName}\n03\n${rootB64}\n\n${sigLine}`, // leading zero
      `${keyName}\n-3\n${rootB64}\n\n${sigLine}`,
      `${keyName}\n99999999999999999999\n${rootB64}\n\n${sigLine}`,
      `${keyName}\n3\n${rootB64.slice(0, -1)}\n\n${sigLine}`, // not base64 of 32 bytes
      `${keyName}\n3\n${Buffer.alloc(31).toString('base64')}\n\n${sigLine}`,
      `${keyName}\n3\n\n\n${sigLine}`, // empty root line
      `${keyName}\n3\n${rootB64}\n\n- ${keyName} AAAA\n`, // not an em dash
      `${keyName}\n3\n${rootB64}\n\n\u2014 ${keyName}\n`, // no signature field
      `${keyName}\n3\n${rootB64}\n\n\u2014 ${keyName} AAAA\n`, // too short for key ID + signature
      `${keyName}\n3\t\n${rootB64}\n\n${sigLine}`, // control character
    ];
    for (const text of malformed) {
      expectCode(() => verifyCheckpoint(text, verifier), 'ERR_TRANSLOG_CHECKPOINT_MALFORMED');
    }
  });

  it('refuses to sign what it could not parse back', () => {
    expect(() => signCheckpoint({ ...head, origin: '' }, { keyName, privateKey })).toThrow(TranslogError);
    expect(() => signCheckpoint({ ...head, origin: 'a\nb' }, { keyName, privateKey })).toThrow(TranslogError);
    expect(() => signCheckpoint({ ...head, size: 1.5 }, { keyName, privateKey })).toThrow(TranslogError);
    expect(() => signCheckpoint({ ...head, root: Buffer.alloc(16) }, { keyName, privateKey })).toThrow(TranslogError);
    expect(() => signCheckpoint(head, { keyName: 'has space', privateKey })).toThrow(TranslogError);
    expect(() => signCheckpoint(head, { keyName: 'has+plus', privateKey })).toThrow(TranslogError);
    expect(() => signCheckpoint(head, { keyName, privateKey: publicKey })).toThrow(TranslogError);
  });
});

/** <name>+<hex key ID>+<base64 key>; the base64 may itself contain '+'. */
function splitVerifierKey(vkey: string): [string, string, string] {
  const [name = '', id = '', ...key] = vkey.split('+');
  return [name, id, key.join('+')];
}

describe('verifier key strings', () => {
  it('round-trips and verifies a checkpoint from the string alone', () => {
    const vkey = verifierKeyString(keyName, publicKey);
    expect(vkey).toMatch(new RegExp(`^${keyName}\\+[0-9a-f]{8}\\+[A-Za-z0-9+/]{44}$`));
    const parsed = parseVerifierKey(vkey);
    expect(parsed.keyName).toBe(keyName);
    expect(parsed.keyId.toString('hex')).toBe(splitVerifierKey(vkey)[1]);
    expect(parsed.publicKey.equals(publicKey)).toBe(true);
    expect(verifyCheckpoint(note, parsed).root.equals(root)).toBe(true);
  });

  it('rejects mangled verifier keys', () => {
    const vkey = verifierKeyString(keyName, publicKey);
    const [name, id, key] = splitVerifierKey(vkey);
    const flippedId = (parseInt(id, 16) ^ 1).toString(16).padStart(8, '0');
    const otherKey = splitVerifierKey(verifierKeyString(keyName, other.publicKey))[2];
    const bad = [
      '',
      `${name}+${id}`,
      `${name}+${flippedId}+${key}`, // key ID does not match
      `${name}+${id}+${otherKey}`,
      `other+${id}+${key}`,
      `${name}+${id.slice(1)}+${key}`,
      `${name}+${id}+${Buffer.concat([Buffer.of(0x02), Buffer.from(key, 'base64').subarray(1)]).toString('base64')}`,
      `${name}+${id}+${key.slice(0, -4)}`,
      `+${id}+${key}`,
    ];
    for (const text of bad) expectCode(() => parseVerifierKey(text), 'ERR_TRANSLOG_KEY_INVALID');
  });

  // Interop: the public verifier key and signature published in the docs of
  // golang.org/x/mod/sumdb/note (its "PeterNeumann" example).
  it('accepts the golang.org/x/mod/sumdb/note example key and its signature', () => {
    const parsed = parseVerifierKey('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
    const text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const sig = Buffer.from(
      'x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=',
      'base64',
    );
    expect(sig.subarray(0, 4).equals(parsed.keyId)).toBe(true);
    expect(verify(null, Buffer.from(text), parsed.publicKey, sig.subarray(4))).toBe(true);
  });

  // Interop: a key whose base64 contains '+' (transparency-dev/formats note tests).
  it('accepts a published verifier key whose base64 contains "+"', () => {
    const vkey = 'TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6';
    const parsed = parseVerifierKey(vkey);
    expect(parsed.keyName).toBe('TEST');
    expect(parsed.keyId.toString('hex')).toBe('7997405c');
    expect(verifierKeyString('TEST', parsed.publicKey)).toBe(vkey);
  });

  it('round-trips many generated keys (some base64 holds "+")', () => {
    for (let i = 0; i < 64; i++) {
      const pair = generateKeyPairSync('ed25519');
      const vkey = verifierKeyString(keyName, pair.publicKey);
      expect(parseVerifierKey(vkey).publicKey.equals(pair.publicKey)).toBe(true);
    }
  });
});

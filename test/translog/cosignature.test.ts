import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  appendSignatureLines, cosignatureVerifierKey, parseCosignatureVerifierKey, signCheckpoint, signCosignature, verifierKeyString,
  verifyCheckpoint, parseVerifierKey, verifyCosignatureLine, verifyCosigned, TranslogError,
} from '../../src/kernel/translog/index.ts';

const logKey = generateKeyPairSync('ed25519');
const note = signCheckpoint({ origin: 'log.example/platform', size: 12, root: Buffer.alloc(32, 7) }, { keyName: 'log.example', privateKey: logKey.privateKey });
const witness = (name: string) => {
  const k = generateKeyPairSync('ed25519');
  return { name, privateKey: k.privateKey, vkey: cosignatureVerifierKey(name, k.publicKey) };
};
const w1 = witness('witness.example/w1');
const w2 = witness('witness.example/w2');
const T = 1_700_000_000;

const edit = (line: string, f: (b: Buffer) => void) => {
  const [dash, name, b64] = line.split(' ');
  const bytes = Buffer.from(b64!, 'base64');
  f(bytes);
  return `${dash} ${name} ${bytes.toString('base64')}`;
};

describe('C2SP tlog-cosignature v1 (Ed25519)', () => {
  it('round-trips: a witness key made here cosigns, the vkey verifies it, the log key still verifies the note', () => {
    const v = parseCosignatureVerifierKey(w1.vkey);
    expect(w1.vkey).toMatch(/^witness\.example\/w1\+[0-9a-f]{8}\+B[A-P]/); // base64 of 0x04 || key starts with B, then A-P
    const line = signCosignature(note, w1, T);
    const c = verifyCosignatureLine(note, line, v);
    expect(c).toMatchObject({ name: w1.name, timestamp: T, line });
    const cosigned = appendSignatureLines(note, [line]);
    expect(cosigned).toBe(`${note}${line}\n`);
    expect(appendSignatureLines(cosigned, [line])).toBe(cosigned);
    expect(verifyCosigned(cosigned, v).timestamp).toBe(T);
    // The cosignature line does not disturb the log's own signature (other keys are ignored).
    expect(verifyCheckpoint(cosigned, parseVerifierKey(verifierKeyString('log.example', logKey.publicKey))).size).toBe(12);
  });

  it('signs exactly "cosignature/v1\\ntime <t>\\n" + the note body', async () => {
    const { verify } = await import('node:crypto');
    const line = signCosignature(note, w1, T);
    const bytes = Buffer.from(line.split(' ')[2]!, 'base64');
    expect(bytes.length).toBe(4 + 8 + 64);
    expect(bytes.readBigUInt64BE(4)).toBe(BigInt(T));
    const body = note.slice(0, note.lastIndexOf('\n\n') + 1);
    const key = parseCosignatureVerifierKey(w1.vkey).publicKey;
    expect(verify(null, Buffer.from(`cosignature/v1\ntime ${T}\n${body}`), key, bytes.subarray(12))).toBe(true);
  });

  it('refuses a tampered checkpoint body', () => {
    const line = signCosignature(note, w1, T);
    const other = signCheckpoint({ origin: 'log.example/platform', size: 13, root: Buffer.alloc(32, 7) }, { keyName: 'log.example', privateKey: logKey.privateKey });
    expect(() => verifyCosignatureLine(other, line, parseCosignatureVerifierKey(w1.vkey))).toThrow(/does not verify/);
    const forgedBody = note.replace('\n12\n', '\n13\n');
    expect(() => verifyCosigned(appendSignatureLines(forgedBody, [line]), parseCosignatureVerifierKey(w1.vkey))).toThrow(TranslogError);
  });

  it('refuses another witness key, and a line under the right name with the wrong key', () => {
    const line = signCosignature(note, w1, T);
    expect(() => verifyCosignatureLine(note, line, parseCosignatureVerifierKey(w2.vkey))).toThrow(/not the witness/);
    expect(() => verifyCosigned(appendSignatureLines(note, [line]), parseCosignatureVerifierKey(w2.vkey))).toThrow(/no cosignature by the witness/);
    // An impostor signs with its own key but claims w1's name and key ID.
    const impostor = witness(w1.name);
    const forged = edit(signCosignature(note, impostor, T), (b) => parseCosignatureVerifierKey(w1.vkey).keyId.copy(b, 0));
    expect(() => verifyCosignatureLine(note, forged, parseCosignatureVerifierKey(w1.vkey))).toThrow(/does not verify/);
  });

  it('refuses altered timestamp bytes, a timestamp above 2^63-1, a truncated signature and, when asked, a future date', () => {
    const v = parseCosignatureVerifierKey(w1.vkey);
    const line = signCosignature(note, w1, T);
    expect(() => verifyCosignatureLine(note, edit(line, (b) => b.writeBigUInt64BE(BigInt(T + 1), 4)), v)).toThrow(/does not verify/);
    expect(() => verifyCosignatureLine(note, edit(line, (b) => (b[4] = 0x80)), v)).toThrow(/2\^63/);
    const short = `${line.split(' ').slice(0, 2).join(' ')} ${Buffer.from(line.split(' ')[2]!, 'base64').subarray(0, 70).toString('base64')}`;
    expect(() => verifyCosignatureLine(note, short, v)).toThrow(/timestamped/);
    expect(() => verifyCosignatureLine(note, line, v, { notAfter: T - 1 })).toThrow(/future/);
    expect(verifyCosignatureLine(note, line, v, { notAfter: T }).timestamp).toBe(T);
  });

  it('parses only type-0x04 vkeys whose key ID matches; a log (0x01) key is not a witness key', () => {
    expect(() => parseCosignatureVerifierKey(verifierKeyString('log.example', logKey.publicKey))).toThrow(/0x04/);
    const [, n, id, k] = /^([^+]*)\+([^+]*)\+(.*)$/.exec(w1.vkey)!;
    expect(() => parseCosignatureVerifierKey(`${n}+00000000+${k}`)).toThrow(/does not match/);
    expect(() => parseCosignatureVerifierKey(`${n}+${id}`)).toThrow(TranslogError);
    expect(() => parseCosignatureVerifierKey(`bad name+${id}+${k}`)).toThrow(TranslogError);
  });
});

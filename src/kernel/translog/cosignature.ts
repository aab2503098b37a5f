// Witness cosignatures: C2SP tlog-cosignature (Ed25519, "cosignature/v1") on
// C2SP tlog-checkpoint notes, as returned by C2SP tlog-witness add-checkpoint.
//
// tlog-cosignature "Format": a cosignature is a signed-note signature line
//   — <witness name> base64(4-byte key ID || timestamped_signature)
// with key ID = SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 public key)[:4]
// and timestamped_signature = u64 big-endian POSIX timestamp || 64-byte Ed25519 signature.
//
// tlog-cosignature "Ed25519 signed message":
//   cosignature/v1\n
//   time <timestamp, ASCII decimal, no leading zeroes>\n
//   <the whole checkpoint note body, extension lines and final newline included>

import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { decodeBase64, isKeyName, parseCheckpoint, parseSignatureLine, type NoteSignature } from './checkpoint.ts';
import { TranslogError } from './errors.ts';

// tlog-cosignature "Format": vkey signature type 0x04 = Ed25519 cosignature/v1.
export const COSIGNATURE_V1_TYPE = 0x04;
const PUBLIC_KEY_SIZE = 32;
const SIGNATURE_SIZE = 64;
const TIMESTAMP_SIZE = 8;
const HEADER = 'cosignature/v1\n';
// tlog-cosignature "Format": the timestamp MUST NOT exceed 2^63 - 1.
const MAX_TIMESTAMP = 2n ** 63n - 1n;

export interface CosignatureVerifier {
  /** The witness (cosigner) name: the key name of its signature lines. */
  name: string;
  publicKey: KeyObject;
  /** 4-byte key ID of tlog-cosignature "Format". */
  keyId: Buffer;
}

export interface Cosignature {
  name: string;
  keyId: string;
  /** POSIX seconds the witness signed at. */
  timestamp: number;
  /** The signature line without its newline, as it is appended to the note. */
  line: string;
}

const keyInvalid = (message: string) => new TranslogError('ERR_TRANSLOG_KEY_INVALID', message);
const unverified = (message: string) => new TranslogError('ERR_TRANSLOG_CHECKPOINT_UNVERIFIED', message);
const badSignature = (message: string) => new TranslogError('ERR_TRANSLOG_SIGNATURE_INVALID', message);

function rawPublicKey(publicKey: KeyObject): Buffer {
  if (publicKey?.type !== 'public' || publicKey.asymmetricKeyType !== 'ed25519') throw keyInvalid('expected an Ed25519 public key');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  if (raw.length !== PUBLIC_KEY_SIZE) throw keyInvalid('Ed25519 public key must be 32 bytes');
  return raw;
}

/** tlog-cosignature "Format": SHA-256(<name> || "\n" || 0x04 || public key)[:4]. */
export function cosignatureKeyId(name: string, publicKey: KeyObject): Buffer {
  if (!isKeyName(name)) throw keyInvalid('witness name must be non-empty, without spaces or "+"');
  return createHash('sha256').update(name, 'utf8').update(Uint8Array.of(0x0a, COSIGNATURE_V1_TYPE)).update(rawPublicKey(publicKey)).digest().subarray(0, 4);
}

/** The witness vkey `<name>+<hex key ID>+<base64(0x04 || public key)>` (signed-note "Verifier keys"). */
export function cosignatureVerifierKey(name: string, publicKey: KeyObject): string {
  const encoded = Buffer.concat([Uint8Array.of(COSIGNATURE_V1_TYPE), rawPublicKey(publicKey)]).toString('base64');
  return `${name}+${cosignatureKeyId(name, publicKey).toString('hex')}+${encoded}`;
}

/** Parses a witness vkey (type 0x04) and checks its key ID against its key. */
export function parseCosignatureVerifierKey(text: string): CosignatureVerifier {
  const match = typeof text === 'string' ? /^([^+]*)\+([^+]*)\+(.*)$/s.exec(text.trim()) : null;
  const [, name, hexId, encoded] = match ?? [];
  if (name === undefined || hexId === undefined || encoded === undefined) throw keyInvalid('witness key must be <name>+<hex key ID>+<base64 key>');
  if (!isKeyName(name)) throw keyInvalid('witness key has an invalid name');
  if (!/^[0-9a-f]{8}$/i.test(hexId)) throw keyInvalid('witness key ID must be 8 hex digits');
  const bytes = decodeBase64(encoded);
  if (bytes?.length !== 1 + PUBLIC_KEY_SIZE || bytes[0] !== COSIGNATURE_V1_TYPE) {
    throw keyInvalid('witness key must be an Ed25519 cosignature/v1 (type 0x04) key');
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: bytes.subarray(1).toString('base64url') }, format: 'jwk' });
  } catch {
    throw keyInvalid('witness key is not a valid Ed25519 public key');
  }
  const keyId = cosignatureKeyId(name, publicKey);
  if (keyId.toString('hex') !== hexId.toLowerCase()) throw keyInvalid('witness key ID does not match its key');
  return { name, publicKey, keyId };
}

/** tlog-cosignature "Ed25519 signed message" for a note body (text before the signature lines). */
export function cosignedMessage(body: string, timestamp: bigint): Buffer {
  return Buffer.from(`${HEADER}time ${timestamp.toString(10)}\n${body}`, 'utf8');
}

/** Signs a checkpoint as a witness (tests, a local witness); returns the signature line without newline. */
export function signCosignature(note: string, witness: { name: string; privateKey: KeyObject }, timestamp: number): string {
  const { privateKey, name } = witness;
  if (privateKey?.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') throw keyInvalid('expected an Ed25519 private key');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw keyInvalid('timestamp must be a non-negative integer of seconds');
  const body = parseCheckpoint(note).text;
  const ts = Buffer.alloc(TIMESTAMP_SIZE);
  ts.writeBigUInt64BE(BigInt(timestamp));
  const signature = sign(null, cosignedMessage(body, BigInt(timestamp)), privateKey);
  const keyId = cosignatureKeyId(name, createPublicKey(privateKey));
  return `\u2014 ${name} ${Buffer.concat([keyId, ts, signature]).toString('base64')}`;
}

function checkOne(body: string, sig: NoteSignature, verifier: CosignatureVerifier, opts: { notAfter?: number }): Cosignature {
  // tlog-cosignature "Format": timestamped_signature = u64 timestamp || ed25519_signature[64].
  if (sig.signature.length !== TIMESTAMP_SIZE + SIGNATURE_SIZE) throw badSignature(`cosignature by ${verifier.name} is not a timestamped Ed25519 signature`);
  const timestamp = sig.signature.readBigUInt64BE(0);
  if (timestamp > MAX_TIMESTAMP) throw badSignature(`cosignature by ${verifier.name} has a timestamp above 2^63 - 1`);
  if (!verify(null, cosignedMessage(body, timestamp), verifier.publicKey, sig.signature.subarray(TIMESTAMP_SIZE))) {
    throw badSignature(`cosignature by ${verifier.name} does not verify`);
  }
  // Verifiers MAY reject timestamps in the future (tlog-cosignature "Format").
  if (opts.notAfter !== undefined && timestamp > BigInt(opts.notAfter)) throw badSignature(`cosignature by ${verifier.name} is dated in the future`);
  const line = `\u2014 ${sig.keyName} ${Buffer.concat([sig.keyId, sig.signature]).toString('base64')}`;
  return { name: verifier.name, keyId: verifier.keyId.toString('hex'), timestamp: Number(timestamp), line };
}

/**
 * Verifies one signature line (e.g. from an add-checkpoint answer) as a
 * cosignature of `note` by `verifier`. The line must carry the witness's name
 * and key ID; a line of another key is refused here (callers pick lines).
 */
export function verifyCosignatureLine(note: string, line: string, verifier: CosignatureVerifier, opts: { notAfter?: number } = {}): Cosignature {
  const body = parseCheckpoint(note).text;
  const sig = parseSignatureLine(line.replace(/\n$/, ''));
  if (sig.keyName !== verifier.name || !sig.keyId.equals(verifier.keyId)) {
    throw unverified(`signature line is by ${sig.keyName}+${sig.keyId.toString('hex')}, not the witness ${verifier.name}+${verifier.keyId.toString('hex')}`);
  }
  return checkOne(body, sig, verifier, opts);
}

/**
 * Requires a valid cosignature by `verifier` among the note's signature lines
 * (signed-note: lines of other keys are ignored; a bad line of this key refuses the note).
 */
export function verifyCosigned(note: string, verifier: CosignatureVerifier, opts: { notAfter?: number } = {}): Cosignature {
  const parsed = parseCheckpoint(note);
  const mine = parsed.signatures.filter((s) => s.keyName === verifier.name && s.keyId.equals(verifier.keyId));
  if (mine.length === 0) throw unverified(`checkpoint carries no cosignature by the witness ${verifier.name}+${verifier.keyId.toString('hex')}`);
  const checked = mine.map((s) => checkOne(parsed.text, s, verifier, opts));
  return checked.reduce((a, b) => (b.timestamp > a.timestamp ? b : a));
}

/** The note with signature lines appended (signed-note allows several; duplicates are dropped). */
export function appendSignatureLines(note: string, lines: readonly string[]): string {
  const have = new Set(note.split('\n'));
  const extra = lines.filter((l) => !have.has(l));
  return extra.length === 0 ? note : `${note}${extra.join('\n')}\n`;
}

// Signed tree heads: a C2SP tlog-checkpoint body inside a C2SP signed-note,
// signed with Ed25519 (signed-note signature type 0x01).
//
//   <origin>\n<size>\n<base64 root>\n
//   \n
//   — <key name> <base64(4-byte key ID || 64-byte signature)>\n

import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { HASH_SIZE } from './hash.ts';
import { TranslogError } from './errors.ts';

export interface TreeHead {
  origin: string;
  size: number;
  root: Buffer;
}

/** What a log signs; `root` may be any 32-byte array. */
export type TreeHeadInput = Omit<TreeHead, 'root'> & { root: Uint8Array };

export interface CheckpointSigner {
  keyName: string;
  privateKey: KeyObject;
}

export interface CheckpointVerifier {
  keyName: string;
  publicKey: KeyObject;
}

export interface NoteSignature {
  keyName: string;
  /** 4-byte key ID (big-endian uint32). */
  keyId: Buffer;
  /** Signature bytes after the key ID. */
  signature: Buffer;
}

export interface ParsedCheckpoint extends TreeHead {
  /** Opaque extension lines after the root, if any (tlog-checkpoint "Note text" 4). */
  extensions: string[];
  /** The signed note text, final newline included. */
  text: string;
  signatures: NoteSignature[];
}

// signed-note "Signature types": 0x01 = Ed25519.
const ED25519_SIGNATURE_TYPE = 0x01;
const ED25519_PUBLIC_KEY_SIZE = 32;
const ED25519_SIGNATURE_SIZE = 64;
const KEY_ID_SIZE = 4;
// signed-note: verifiers must accept at least 16 signatures; bound the work.
const MAX_SIGNATURES = 100;
const SIGNATURE_PREFIX = '\u2014 ';

function malformed(message: string): TranslogError {
  return new TranslogError('ERR_TRANSLOG_CHECKPOINT_MALFORMED', message);
}

function keyInvalid(message: string): TranslogError {
  return new TranslogError('ERR_TRANSLOG_KEY_INVALID', message);
}

// signed-note "Format": valid UTF-8, no ASCII control characters except newline.
export function isNoteSafe(text: string): boolean {
  return !/[\u0000-\u0009\u000b-\u001f]|\p{Cs}/u.test(text);
}

// signed-note: key names are non-empty, without Unicode spaces or '+'.
export function isKeyName(name: string): boolean {
  return typeof name === 'string' && name.length > 0 && isNoteSafe(name) && !/[\s+]/u.test(name);
}

/** Decodes standard base64 (RFC 4648 §4), rejecting any non-canonical encoding. */
export function decodeBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

function rawEd25519PublicKey(publicKey: KeyObject): Buffer {
  if (publicKey?.type !== 'public' || publicKey.asymmetricKeyType !== 'ed25519') {
    throw keyInvalid('expected an Ed25519 public key');
  }
  const { x } = publicKey.export({ format: 'jwk' });
  const raw = typeof x === 'string' ? Buffer.from(x, 'base64url') : undefined;
  if (raw?.length !== ED25519_PUBLIC_KEY_SIZE) throw keyInvalid('Ed25519 public key must be 32 bytes');
  return raw;
}

/** signed-note Ed25519 key ID: SHA-256(key name || 0x0A || 0x01 || public key)[:4]. */
export function ed25519KeyId(keyName: string, publicKey: KeyObject): Buffer {
  if (!isKeyName(keyName)) throw keyInvalid('key name must be non-empty, without spaces or "+"');
  return createHash('sha256')
    .update(keyName, 'utf8')
    .update(Uint8Array.of(0x0a, ED25519_SIGNATURE_TYPE))
    .update(rawEd25519PublicKey(publicKey))
    .digest()
    .subarray(0, KEY_ID_SIZE);
}

/** The signed-note verifier key `<name>+<hex key ID>+<base64(0x01 || public key)>`. */
export function verifierKeyString(keyName: string, publicKey: KeyObject): string {
  const keyId = ed25519KeyId(keyName, publicKey);
  const encoded = Buffer.concat([Uint8Array.of(ED25519_SIGNATURE_TYPE), rawEd25519PublicKey(publicKey)]);
  return `${keyName}+${keyId.toString('hex')}+${encoded.toString('base64')}`;
}

/** Parses a signed-note Ed25519 verifier key string; checks its key ID. */
export function parseVerifierKey(text: string): CheckpointVerifier & { keyId: Buffer } {
  // Names hold no '+', but the base64 key may: split at the first two only.
  const match = typeof text === 'string' ? /^([^+]*)\+([^+]*)\+(.*)$/s.exec(text) : null;
  const [, keyName, hexId, encoded] = match ?? [];
  if (keyName === undefined || hexId === undefined || encoded === undefined) {
    throw keyInvalid('verifier key must be <name>+<hex key ID>+<base64 key>');
  }
  if (!isKeyName(keyName)) throw keyInvalid('verifier key has an invalid key name');
  if (!/^[0-9a-f]{8}$/i.test(hexId)) throw keyInvalid('verifier key ID must be 8 hex digits');
  const bytes = decodeBase64(encoded);
  if (bytes?.length !== 1 + ED25519_PUBLIC_KEY_SIZE || bytes[0] !== ED25519_SIGNATURE_TYPE) {
    throw keyInvalid('verifier key must be an Ed25519 (type 0x01) public key');
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: bytes.subarray(1).toString('base64url') },
      format: 'jwk',
    });
  } catch {
    throw keyInvalid('verifier key is not a valid Ed25519 public key');
  }
  const keyId = ed25519KeyId(keyName, publicKey);
  if (keyId.toString('hex') !== hexId.toLowerCase()) throw keyInvalid('verifier key ID does not match its key');
  return { keyName, publicKey, keyId };
}

// tlog-checkpoint "Note text": origin, size, root, then optional extension lines.
function checkpointText(head: TreeHeadInput): string {
  const { origin, size, root } = head;
  if (typeof origin !== 'string' || origin.length === 0 || origin.includes('\n') || !isNoteSafe(origin)) {
    throw malformed('origin must be a non-empty single line without control characters');
  }
  if (!Number.isSafeInteger(size) || size < 0) throw malformed('size must be a non-negative safe integer');
  if (!(root instanceof Uint8Array) || root.length !== HASH_SIZE) throw malformed(`root must be ${HASH_SIZE} bytes`);
  return `${origin}\n${size}\n${Buffer.from(root).toString('base64')}\n`;
}

/** Signs a tree head as a checkpoint note with one Ed25519 signature line. */
export function signCheckpoint(head: TreeHeadInput, signer: CheckpointSigner): string {
  const { keyName, privateKey } = signer;
  if (privateKey?.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw keyInvalid('expected an Ed25519 private key');
  }
  const keyId = ed25519KeyId(keyName, createPublicKey(privateKey));
  const text = checkpointText(head);
  const signature = sign(null, Buffer.from(text, 'utf8'), privateKey);
  return `${text}\n${SIGNATURE_PREFIX}${keyName} ${Buffer.concat([keyId, signature]).toString('base64')}\n`;
}

/** One signed-note signature line `— <key name> <base64(key ID || signature)>` (no newline). */
export function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw malformed('signature line must start with an em dash and a space');
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(' ');
  if (space < 0) throw malformed('signature line must be "— <key name> <signature>"');
  const keyName = rest.slice(0, space);
  if (!isKeyName(keyName)) throw malformed('signature line has an invalid key name');
  const bytes = decodeBase64(rest.slice(space + 1));
  if (bytes === undefined || bytes.length <= KEY_ID_SIZE) throw malformed('signature is not canonical base64 of a key ID and signature');
  return { keyName, keyId: bytes.subarray(0, KEY_ID_SIZE), signature: bytes.subarray(KEY_ID_SIZE) };
}

/** Parses a checkpoint note WITHOUT verifying it; use verifyCheckpoint before trusting it. */
export function parseCheckpoint(note: string): ParsedCheckpoint {
  if (typeof note !== 'string' || !isNoteSafe(note)) throw malformed('note must be text without control characters');
  // signed-note "Format": the text is separated from the signatures by the last blank line.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const signatureBlock = note.slice(split + 2);
  if (!signatureBlock.endsWith('\n')) throw malformed('note must end with a newline');
  const signatureLines = signatureBlock.slice(0, -1).split('\n');
  if (signatureLines.length > MAX_SIGNATURES) throw malformed(`note has more than ${MAX_SIGNATURES} signatures`);
  const signatures = signatureLines.map(parseSignatureLine);

  const lines = text.slice(0, -1).split('\n');
  const [origin, sizeLine, rootLine, ...extensions] = lines;
  if (origin === undefined || sizeLine === undefined || rootLine === undefined) {
    throw malformed('checkpoint needs origin, size and root lines');
  }
  if (lines.some((line) => line.length === 0)) throw malformed('checkpoint lines must be non-empty');
  // tlog-checkpoint: ASCII decimal, no leading zeroes unless the tree is empty.
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine)) throw malformed('size must be decimal without leading zeroes');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw malformed('size is too large');
  const root = decodeBase64(rootLine);
  if (root?.length !== HASH_SIZE) throw malformed(`root must be base64 of ${HASH_SIZE} bytes`);
  return { origin, size, root, extensions, text, signatures };
}

/**
 * Verifies a checkpoint against one trusted key and returns its tree head.
 * Per signed-note, signatures from other keys are ignored; a bad signature from
 * the trusted key rejects the note, and so does the lack of one.
 */
export function verifyCheckpoint(note: string, verifier: CheckpointVerifier): TreeHead {
  const keyId = ed25519KeyId(verifier.keyName, verifier.publicKey);
  const checkpoint = parseCheckpoint(note);
  const trusted = checkpoint.signatures.filter((s) => s.keyName === verifier.keyName && s.keyId.equals(keyId));
  if (trusted.length === 0) {
    throw new TranslogError('ERR_TRANSLOG_CHECKPOINT_UNVERIFIED', `checkpoint carries no signature by ${verifier.keyName}`);
  }
  const message = Buffer.from(checkpoint.text, 'utf8');
  for (const { signature } of trusted) {
    if (signature.length !== ED25519_SIGNATURE_SIZE || !verify(null, message, verifier.publicKey, signature)) {
      throw new TranslogError('ERR_TRANSLOG_SIGNATURE_INVALID', `signature by ${verifier.keyName} does not verify`);
    }
  }
  return { origin: checkpoint.origin, size: checkpoint.size, root: checkpoint.root };
}

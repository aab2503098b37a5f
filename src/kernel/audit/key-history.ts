/**
 * The history of the log signing key (issue #22 §3) and verification against
 * it. A checkpoint names its signer by the signed-note key ID in its signature
 * line (C2SP signed-note "Signatures": 4-byte key hash), so the verifier picks
 * the key by that id among every key it trusts.
 *
 * "Signed after retirement" is decided by tree size, not by a clock: at
 * rotation the platform records, per log, the largest size the old key had
 * signed (`lastSizes`). A signature by a retired key over a larger size — or
 * over a log it had never signed — can only have been made after the key was
 * retired (a leaked old key, a stale process), and is refused. A timestamp in
 * the note would not help: whoever holds the old private key writes any date.
 */
import { parseCheckpoint, parseVerifierKey, TranslogError, verifyCheckpoint, type CheckpointVerifier, type TreeHead } from '../translog/index.ts';

export interface HistoryKey {
  /** signed-note verifier key `<name>+<hex id>+<base64 key>`. */
  verifierKey: string;
  keyId: string;
  validFrom: string;
  /** null while the key is active. */
  validUntil: string | null;
  /** Retired keys: per log name ('platform' or a tenant id), the last size this key signed. */
  lastSizes?: Record<string, number>;
}

interface TrustedKey {
  verifier: CheckpointVerifier & { keyId: Buffer };
  retired: boolean;
  lastSizes: Record<string, number> | undefined;
}

export class RetiredKeyError extends TranslogError {}

export function trustedKeys(keys: readonly (string | HistoryKey)[]): TrustedKey[] {
  return keys.map((k) => typeof k === 'string'
    // A bare key passed on the command line: trusted, its retirement unknown to the caller.
    ? { verifier: parseVerifierKey(k), retired: false, lastSizes: undefined }
    : { verifier: parseVerifierKey(k.verifierKey), retired: k.validUntil !== null, lastSizes: k.lastSizes ?? {} });
}

/**
 * Verifies a checkpoint with the trusted key whose id its signature line
 * carries; refuses a retired key's signature over a size it never signed.
 */
export function verifyWithKeys(note: string, keys: readonly TrustedKey[]): TreeHead & { keyId: string } {
  const parsed = parseCheckpoint(note);
  const ids = new Set(parsed.signatures.map((s) => `${s.keyName} ${s.keyId.toString('hex')}`));
  const matching = keys.filter((k) => ids.has(`${k.verifier.keyName} ${k.verifier.keyId.toString('hex')}`));
  if (matching.length === 0) {
    const seen = parsed.signatures.map((s) => `${s.keyName}+${s.keyId.toString('hex')}`).join(', ');
    throw new TranslogError('ERR_TRANSLOG_CHECKPOINT_UNVERIFIED', `checkpoint is signed by ${seen || 'nobody'}, none of the trusted keys`);
  }
  // An active key's signature is enough; a retired one's only within its signed range.
  const key = matching.find((k) => !k.retired) ?? matching[0]!;
  const head = verifyCheckpoint(note, key.verifier);
  const keyId = key.verifier.keyId.toString('hex');
  if (key.retired) {
    const log = head.origin.slice(head.origin.lastIndexOf('/') + 1);
    const last = key.lastSizes?.[log];
    if (last === undefined || head.size > last) {
      throw new RetiredKeyError('ERR_TRANSLOG_KEY_RETIRED',
        `checkpoint of ${head.origin} at size ${head.size} is signed by key ${keyId}, retired ${last === undefined ? 'before it signed this log' : `after size ${last}`}: signed after its retirement`);
    }
  }
  return { ...head, keyId };
}

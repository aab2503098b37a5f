/**
 * The Ed25519 key that signs every audit log's checkpoints. Its private half
 * is stored sealed under the master key (a database dump cannot sign), its
 * public half is published as a signed-note verifier key string, which is all
 * an outsider needs (`ocsuite verify …`, GET /api/v1/translog/key).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { openWithMasterKey, sealWithMasterKey, type Keyring } from '../crypto/index.ts';
import { ed25519KeyId, verifierKeyString, type CheckpointSigner } from '../translog/index.ts';
import { AuditError } from './errors.ts';

export interface LogSigner extends CheckpointSigner {
  keyId: string;
  publicKey: KeyObject;
  /** `<name>+<hex id>+<base64 key>`: what verifiers trust. */
  verifierKey: string;
  /** Checkpoint origin of a log: `<key name>/<tenant id | platform>`. */
  originOf(logName: string): string;
}

const aadOf = (keyId: string) => `translog_keys|private_key_sealed|${keyId}`;
// Serialises first-key creation across processes starting at once.
const KEY_LOCK = 7_263_011_004;

/** The signed-note key name for a public URL: its host (with port), e.g. `ocsuite.example`. */
export function keyNameFor(publicUrl: string): string {
  const host = new URL(publicUrl).host.toLowerCase();
  if (!host || /[\s+]/.test(host)) throw new AuditError('ERR_AUDIT_KEY', `cannot derive a key name from ${publicUrl}`);
  return host;
}

function signerOf(keyName: string, privateKey: KeyObject): LogSigner {
  const publicKey = createPublicKey(privateKey);
  return {
    keyName,
    privateKey,
    publicKey,
    keyId: ed25519KeyId(keyName, publicKey).toString('hex'),
    verifierKey: verifierKeyString(keyName, publicKey),
    originOf: (logName) => `${keyName}/${logName}`,
  };
}

/** Loads the active log key (identity role), creating it on a fresh database. */
export async function loadLogSigner(tx: Session, keyring: Keyring, publicUrl: string): Promise<LogSigner> {
  let [row] = await selectActive(tx);
  if (!row) {
    await tx.query(sql`SELECT pg_advisory_xact_lock(${KEY_LOCK})`);
    [row] = await selectActive(tx);
  }
  if (!row) {
    const keyName = keyNameFor(publicUrl);
    const { privateKey } = generateKeyPairSync('ed25519');
    const signer = signerOf(keyName, privateKey);
    const raw = Buffer.from(signer.publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await tx.query(sql`INSERT INTO translog_keys (key_id, key_name, public_key, private_key_sealed)
      VALUES (${signer.keyId}, ${keyName}, decode(${raw.toString('hex')}, 'hex'), ${sealWithMasterKey(keyring, aadOf(signer.keyId), pem)})`);
    return signer;
  }
  const privateKey = createPrivateKey({ key: openWithMasterKey(keyring, aadOf(row.key_id), row.private_key_sealed).toString('utf8'), format: 'pem' });
  const signer = signerOf(row.key_name, privateKey);
  if (signer.keyId !== row.key_id || signer.publicKey.export({ format: 'jwk' }).x !== Buffer.from(row.public_key, 'hex').toString('base64url')) {
    throw new AuditError('ERR_AUDIT_KEY', `translog key ${row.key_id} does not match its stored public key`);
  }
  return signer;
}

function selectActive(tx: Session) {
  return tx.query<{ key_id: string; key_name: string; public_key: string; private_key_sealed: string }>(sql`
    SELECT key_id, key_name, encode(public_key, 'hex') AS public_key, private_key_sealed
    FROM translog_keys WHERE retired_at IS NULL ORDER BY created_at DESC, key_id LIMIT 1`);
}

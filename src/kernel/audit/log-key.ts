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
import { recordAuditEvent, type AuditEventInput } from './events.ts';
import type { HistoryKey } from './key-history.ts';

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

function insertKey(tx: Session, keyring: Keyring, keyName: string): Promise<LogSigner> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const signer = signerOf(keyName, privateKey);
  const raw = Buffer.from(signer.publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return tx.query(sql`INSERT INTO translog_keys (key_id, key_name, public_key, private_key_sealed)
    VALUES (${signer.keyId}, ${keyName}, decode(${raw.toString('hex')}, 'hex'), ${sealWithMasterKey(keyring, aadOf(signer.keyId), pem)})`).then(() => signer);
}

/** Loads the active log key (identity role), creating it on a fresh database. */
export async function loadLogSigner(tx: Session, keyring: Keyring, publicUrl: string): Promise<LogSigner> {
  let [row] = await selectActive(tx);
  if (!row) {
    await tx.query(sql`SELECT pg_advisory_xact_lock(${KEY_LOCK})`);
    [row] = await selectActive(tx);
  }
  if (!row) return insertKey(tx, keyring, keyNameFor(publicUrl));
  return openSigner(keyring, row);
}

function openSigner(keyring: Keyring, row: { key_id: string; key_name: string; public_key: string; private_key_sealed: string }): LogSigner {
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

/** The signer's key was retired since it was loaded: reload the active key and sign again. */
export class LogKeyRetiredError extends AuditError {}

/**
 * Called inside every signing transaction before it signs: waits for a
 * rotation in progress (shared lock against its exclusive one) and refuses a
 * key that is no longer active, so no retired key signs past the sizes its
 * retirement recorded.
 */
export async function assertSignerActive(tx: Session, signer: LogSigner): Promise<void> {
  await tx.query(sql`SELECT pg_advisory_xact_lock_shared(${KEY_LOCK})`);
  const [row] = await tx.query<{ active: boolean }>(sql`SELECT translog_key_is_active(${signer.keyId}) AS active`);
  if (!row?.active) throw new LogKeyRetiredError('ERR_AUDIT_KEY', `translog key ${signer.keyId} is retired`);
}

export interface RotationResult {
  retiredKeyId: string | null;
  keyId: string;
  verifierKey: string;
  /** Logs whose last signed size was recorded against the retired key. */
  logs: number;
}

/**
 * Rotates the log key (maintenance role: it reads every log's checkpoints).
 * The new key keeps the old key name, so origins do not change. In the same
 * transaction: the old key gets `retired_at`, every log's last signed size is
 * recorded against it, and the rotation is a platform audit event.
 */
export async function rotateLogKey(tx: Session, keyring: Keyring, publicUrl: string, actor: AuditEventInput['actor']): Promise<RotationResult> {
  // Exclusive: signers in flight finish first (they hold the shared lock), later ones see the retirement.
  await tx.query(sql`SELECT pg_advisory_xact_lock(${KEY_LOCK})`);
  const [old] = await selectActive(tx);
  if (old) {
    await tx.query(sql`UPDATE translog_keys SET retired_at = now() WHERE key_id = ${old.key_id}`);
    await tx.query(sql`
      INSERT INTO translog_key_retirements (key_id, log, last_size)
      SELECT ${old.key_id}, tenant_id::text, max(size) FROM translog_checkpoints GROUP BY tenant_id
      UNION ALL
      SELECT ${old.key_id}, log, max(size) FROM platform_translog_checkpoints WHERE log = 'platform' GROUP BY log`);
  }
  const signer = await insertKey(tx, keyring, old?.key_name ?? keyNameFor(publicUrl));
  const [{ n }] = (await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM translog_key_retirements WHERE key_id = ${old?.key_id ?? ''}`)) as [{ n: number }];
  await recordAuditEvent(tx, {
    tenantId: null,
    actor,
    action: 'audit.log_key.rotated',
    target: { type: 'translog_key', id: signer.keyId },
    outcome: 'success',
    metadata: { retiredKeyId: old?.key_id ?? null, keyId: signer.keyId, logs: n },
  });
  return { retiredKeyId: old?.key_id ?? null, keyId: signer.keyId, verifierKey: signer.verifierKey, logs: n };
}

/**
 * Every log key with its validity period, oldest first. `logs` limits the
 * recorded last sizes to those logs (the public route shows the platform
 * log's only; tenant ids are not published).
 */
export async function logKeyHistory(tx: Session, logs?: readonly string[]): Promise<HistoryKey[]> {
  const rows = await tx.query<{ key_id: string; key_name: string; public_key: string; created_at: Date | string; retired_at: Date | string | null }>(sql`
    SELECT key_id, key_name, encode(public_key, 'hex') AS public_key, created_at, retired_at FROM translog_keys ORDER BY created_at, key_id`);
  const sizes = await tx.query<{ key_id: string; log: string; last_size: unknown }>(sql`
    SELECT key_id, log, last_size FROM translog_key_retirements`);
  return rows.map((r) => {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(r.public_key, 'hex').toString('base64url') }, format: 'jwk' });
    const key: HistoryKey = {
      verifierKey: verifierKeyString(r.key_name, publicKey),
      keyId: r.key_id,
      validFrom: new Date(r.created_at).toISOString(),
      validUntil: r.retired_at === null ? null : new Date(r.retired_at).toISOString(),
    };
    if (r.retired_at !== null) {
      key.lastSizes = Object.fromEntries(sizes.filter((s) => s.key_id === r.key_id && (!logs || logs.includes(s.log))).map((s) => [s.log, Number(s.last_size)]));
    }
    return key;
  });
}

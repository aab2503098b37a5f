import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { openWithMasterKey, sealWithMasterKey, type Keyring } from '../crypto/index.ts';
import type { SigningKey } from './access-tokens.ts';

const aadOf = (kid: string) => `signing_keys|private_key_sealed|${kid}`;

/** A new key is published this long before it signs: every node reloads keys more often than that. */
export const SIGNING_KEY_PROPAGATION_SECONDS = 60;
export const SIGNING_KEY_RELOAD_MS = 20_000;

/**
 * Loads the issuer's Ed25519 keys (newest first), creating the first one on a
 * fresh database. Private halves are stored sealed under the master key, so a
 * database dump alone cannot mint tokens.
 */
export async function loadSigningKeys(tx: Session, keyring: Keyring): Promise<SigningKey[]> {
  let rows = await selectKeys(tx);
  if (rows.length === 0) {
    await insertSigningKey(tx, keyring);
    rows = await selectKeys(tx);
  }
  return rows.map((r) => ({
    kid: r.kid,
    publicJwk: r.public_jwk,
    createdAt: new Date(r.created_at),
    privateKey: createPrivateKey({ key: openWithMasterKey(keyring, aadOf(r.kid), r.private_key_sealed).toString('utf8'), format: 'pem' }),
  }));
}

export async function insertSigningKey(tx: Session, keyring: Keyring): Promise<string> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicJwk = publicKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(publicJwk);
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const sealed = sealWithMasterKey(keyring, aadOf(kid), pem);
  await tx.query(sql`INSERT INTO signing_keys (kid, alg, public_jwk, private_key_sealed)
    VALUES (${kid}, 'EdDSA', ${JSON.stringify(publicJwk)}::jsonb, ${sealed}) ON CONFLICT (kid) DO NOTHING`);
  return kid;
}

function selectKeys(tx: Session) {
  return tx.query<{ kid: string; public_jwk: Record<string, unknown>; private_key_sealed: string; created_at: Date }>(sql`
    SELECT kid, public_jwk, private_key_sealed, created_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid`);
}

/**
 * `ocsuite keys rotate-signing`: adds a key (published in JWKS at once, signing
 * only after SIGNING_KEY_PROPAGATION_SECONDS so every node has loaded it) and
 * retires keys whose successor has been signing for longer than an access
 * token lives — so no unexpired token ever loses its key.
 */
export async function rotateSigningKey(tx: Session, keyring: Keyring, opts: { accessTokenTtlSeconds: number }): Promise<{ added: string; retired: string[] }> {
  const added = await insertSigningKey(tx, keyring);
  const safeAfter = opts.accessTokenTtlSeconds + SIGNING_KEY_PROPAGATION_SECONDS + 60;
  const retired = await tx.query<{ kid: string }>(sql`
    UPDATE signing_keys k SET retired_at = now()
    WHERE k.retired_at IS NULL AND EXISTS (
      SELECT 1 FROM signing_keys n
      WHERE n.retired_at IS NULL AND n.created_at > k.created_at AND n.created_at < now() - make_interval(secs => ${safeAfter}))
    RETURNING kid`);
  return { added, retired: retired.map((r) => r.kid) };
}

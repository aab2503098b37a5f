import { createHmac, hkdfSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import type { Keyring } from '../../kernel/crypto/index.ts';
import { openWithWrappedKey, sealForTenant, wrappedKeyFor } from '../../kernel/crypto/tenant-keys.ts';
import { isUuid } from '../../kernel/ids.ts';

/** The sealed column of this module (registered through the manifest). */
export const KEY_CELL = { table: 'outreach_keys', column: 'key_sealed' } as const;

/**
 * The tenant's outreach key: 32 random bytes sealed with the tenant data key.
 * Two sub-keys are derived from it (HKDF, RFC 5869): one for address hashes,
 * one for token MACs, so neither use can stand in for the other.
 */
export interface OutreachKey {
  addressKey: Buffer;
  tokenKey: Buffer;
}

const derive = (root: Buffer, info: string) => Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), info, 32));

function fromRoot(root: Buffer): OutreachKey {
  try {
    return { addressKey: derive(root, 'ocsuite:outreach:address-hash:v1'), tokenKey: derive(root, 'ocsuite:outreach:token-mac:v1') };
  } finally {
    root.fill(0);
  }
}

async function readKey(tx: Session, keyring: Keyring, tenantId: string): Promise<OutreachKey | undefined> {
  const [row] = await tx.query<{ id: string; sealed: string; wrapped: string | null }>(sql`
    SELECT ok.id, ok.key_sealed AS sealed, ${wrappedKeyFor(sql`ok.tenant_id`, sql`ok.key_sealed`)} AS wrapped
    FROM outreach_keys ok WHERE ok.tenant_id = ${tenantId}`);
  if (!row) return undefined;
  return fromRoot(openWithWrappedKey(keyring, { tenantId, ...KEY_CELL, rowId: row.id }, row.sealed, row.wrapped));
}

/** The key of the transaction's tenant, created on first use (two first uses agree through the unique index). */
export async function tenantKey(tx: Session, keyring: Keyring, tenantId: string): Promise<OutreachKey> {
  const existing = await readKey(tx, keyring, tenantId);
  if (existing) return existing;
  const id = randomUUID();
  const root = randomBytes(32);
  const sealed = await sealForTenant(tx, keyring, { tenantId, ...KEY_CELL, rowId: id }, root);
  root.fill(0);
  await tx.query(sql`INSERT INTO outreach_keys (tenant_id, id, key_sealed) VALUES (${tenantId}, ${id}, ${sealed}) ON CONFLICT (tenant_id) DO NOTHING`);
  const key = await readKey(tx, keyring, tenantId);
  if (!key) throw new Error('outreach key could not be created');
  return key;
}

/** Only an existing key: a public route must never create one for an id it was handed. */
export const existingTenantKey = readKey;

/** What two spellings of one mailbox share: trimmed, NFC, lower case (RFC 5321 local parts are case-sensitive in theory, never in practice). */
export function normaliseAddress(address: string): string {
  return address.trim().normalize('NFC').toLowerCase();
}

/** HMAC-SHA256 of the normalised address: the suppression list's key, stable across data-key rotations. */
export function addressHash(key: OutreachKey, address: string): string {
  return createHmac('sha256', key.addressKey).update(normaliseAddress(address)).digest('hex');
}

// ─── Tokens for /u/{token} and /c/{token} ───────────────────────────────────
// base64url( version | purpose | tenant id | contact id | MAC ), 1 + 1 + 16 + 16 + 16 bytes.
// The MAC (HMAC-SHA256 truncated to 128 bits, under the tenant's token key) binds purpose, tenant
// and contact: a token cannot be guessed, moved to another contact or tenant, or turned from an
// unsubscribe link into a confirmation.

export type TokenPurpose = 'unsubscribe' | 'confirm';
const PURPOSE_BYTE: Record<TokenPurpose, number> = { unsubscribe: 0x75, confirm: 0x63 };
const VERSION = 1;
const LENGTH = 50;

const uuidBytes = (id: string) => Buffer.from(id.replaceAll('-', ''), 'hex');
const uuidOf = (b: Buffer) => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const mac = (key: OutreachKey, head: Buffer) => createHmac('sha256', key.tokenKey).update(head).digest().subarray(0, 16);

export function signToken(key: OutreachKey, purpose: TokenPurpose, tenantId: string, contactId: string): string {
  const head = Buffer.concat([Buffer.from([VERSION, PURPOSE_BYTE[purpose]]), uuidBytes(tenantId), uuidBytes(contactId)]);
  return Buffer.concat([head, mac(key, head)]).toString('base64url');
}

/** The tenant a token claims, before anything is trusted: which key to fetch. Undefined for anything malformed. */
export function parseToken(token: string, purpose: TokenPurpose): { tenantId: string; contactId: string; verify(key: OutreachKey): boolean } | undefined {
  if (!/^[A-Za-z0-9_-]{67}$/.test(token)) return undefined;
  const raw = Buffer.from(token, 'base64url');
  // One spelling per token: re-encoding must give the same text (no ignored trailing bits).
  if (raw.length !== LENGTH || raw.toString('base64url') !== token) return undefined;
  if (raw[0] !== VERSION || raw[1] !== PURPOSE_BYTE[purpose]) return undefined;
  const tenantId = uuidOf(raw.subarray(2, 18));
  const contactId = uuidOf(raw.subarray(18, 34));
  if (!isUuid(tenantId) || !isUuid(contactId)) return undefined;
  const head = raw.subarray(0, 34);
  const given = raw.subarray(34);
  return { tenantId, contactId, verify: (key) => timingSafeEqual(mac(key, head), given) };
}

import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { importAeadKey } from './aead.ts';
import { masterKeyIdOf, unwrapDataKey } from './datakey.ts';
import type { Keyring } from './keyring.ts';

/**
 * Unwrapped tenant data keys, imported once for AES-GCM, for at most DATA_KEY_CACHE_TTL_MS.
 * An entry is keyed by tenant, version AND the wrapped key text the caller has just read from
 * tenant_data_keys in its own transaction — so the database still decides on every open:
 * a shredded tenant (rows deleted) or a destroyed version (wrapped_key NULL) has nothing to
 * look up and fails at once, a re-wrapped key (master rotation) is a new entry, and a wrapped
 * key copied to another tenant's row misses and fails its own unwrap (the AAD binds tenant and
 * version). A retired master key is checked on every hit. One cache per keyring.
 */
export const DATA_KEY_CACHE_TTL_MS = 60_000;
const caches = new WeakMap<Keyring, LRUCache<string, KeyObject>>();

export function unwrapDataKeyCached(keyring: Keyring, tenantId: string, version: number, wrapped: string): KeyObject {
  let cache = caches.get(keyring);
  if (!cache) caches.set(keyring, (cache = new LRUCache<string, KeyObject>({ max: 10_000, ttl: DATA_KEY_CACHE_TTL_MS })));
  const id = `${tenantId}|${version}|${wrapped}`;
  const hit = cache.get(id);
  if (hit) {
    keyring.get(masterKeyIdOf(wrapped)); // throws ERR_KEY_RETIRED / ERR_KEY_UNKNOWN as an unwrap would
    return hit;
  }
  const bytes = unwrapDataKey(keyring, { tenantId, version }, wrapped);
  try {
    const key = importAeadKey(bytes);
    cache.set(id, key);
    return key;
  } finally {
    bytes.fill(0);
  }
}

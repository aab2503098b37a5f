import { SESSION_PERMISSION, type PermissionCatalog, type Permission } from '../access/catalog.ts';
import { hashOpaqueToken, newOpaqueToken } from './opaque-token.ts';

/**
 * API keys for machines (n8n, other services): `ocs_ak_` + 256 random bits, so
 * secret scanners recognise a leaked one by its prefix. Only the SHA-256 is
 * stored; the key is shown once. Scopes are permissions, the same ones roles
 * expand to, and never `session` (a key is not a user).
 */
export const API_KEY_PATTERN = /^ocs_ak_[A-Za-z0-9_-]{43}$/;

export function newApiKey(): { key: string; hash: string } {
  const { token, hash } = newOpaqueToken('ocs_ak');
  return { key: token, hash };
}

export const hashApiKey = hashOpaqueToken;

export function isApiKey(token: string): boolean {
  return API_KEY_PATTERN.test(token);
}

export function validScopes(catalog: PermissionCatalog, scopes: readonly string[]): scopes is Permission[] {
  return scopes.length > 0 && scopes.every((s) => catalog.has(s) && s !== SESSION_PERMISSION);
}

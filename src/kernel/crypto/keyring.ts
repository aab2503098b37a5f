import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { inspect } from 'node:util';
import { CryptoError } from './errors.ts';

export const MASTER_KEY_BYTES = 32;
export const MASTER_KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** Canonical, padded standard base64 (what `openssl rand -base64 32` prints). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
  /** The same key imported once for AES-GCM (aead.ts AeadKey). */
  readonly aeadKey: KeyObject;
}

/** Plain, exportable form used by serializeKeyring and rotation tooling. */
export interface MasterKeyEntry {
  id: string;
  key: Buffer;
  primary?: boolean;
}

function invalid(message: string): CryptoError {
  return new CryptoError('ERR_KEYRING_INVALID', message);
}

/** Key material is non-enumerable so logging or JSON-encoding a MasterKey shows only its id. */
function masterKey(id: string, key: Buffer): MasterKey {
  const entry = { id } as MasterKey;
  Object.defineProperty(entry, 'key', { value: Buffer.from(key), enumerable: false });
  Object.defineProperty(entry, 'aeadKey', { value: createSecretKey(key), enumerable: false });
  return Object.freeze(entry);
}

/**
 * Versioned master keys. The primary wraps new data keys; every other key
 * only unwraps, until it is retired and refuses even that.
 */
export class Keyring {
  readonly #keys = new Map<string, MasterKey>();
  readonly #primaryId: string;
  readonly #retired = new Set<string>();

  constructor(keys: readonly { id: string; key: Uint8Array }[], primaryId: string) {
    if (keys.length === 0) throw invalid('keyring has no master keys');
    keys.forEach(({ id, key }, index) => {
      if (typeof id !== 'string' || !MASTER_KEY_ID_PATTERN.test(id)) {
        throw invalid(`master key #${index + 1} has an invalid id (expected 1-32 of A-Z a-z 0-9 _ -)`);
      }
      if (this.#keys.has(id)) throw invalid(`master key id "${id}" appears more than once`);
      if (!(key instanceof Uint8Array) || key.length !== MASTER_KEY_BYTES) {
        throw invalid(`master key "${id}" must be ${MASTER_KEY_BYTES} bytes`);
      }
      // The same bytes under two ids is a copy-paste slip that silently defeats rotation.
      for (const other of this.#keys.values()) {
        if (other.key.equals(key)) throw invalid(`master keys "${other.id}" and "${id}" hold identical key material`);
      }
      this.#keys.set(id, masterKey(id, Buffer.from(key)));
    });
    if (!this.#keys.has(primaryId)) throw invalid(`primary master key "${safeId(primaryId)}" is not in the keyring`);
    this.#primaryId = primaryId;
  }

  get primary(): MasterKey {
    return this.#keys.get(this.#primaryId) as MasterKey;
  }

  /** A copy: retiring goes through retire() so the primary cannot be retired. */
  get retired(): ReadonlySet<string> {
    return new Set(this.#retired);
  }

  get(id: string): MasterKey {
    const key = this.#keys.get(id);
    if (key === undefined) throw new CryptoError('ERR_KEY_UNKNOWN', `master key "${safeId(id)}" is not in the keyring`);
    if (this.#retired.has(id)) throw new CryptoError('ERR_KEY_RETIRED', `master key "${id}" is retired`);
    return key;
  }

  has(id: string): boolean {
    return this.#keys.has(id);
  }

  /** All ids in keyring order, retired ones included. */
  ids(): string[] {
    return [...this.#keys.keys()];
  }

  retire(id: string): void {
    if (!this.#keys.has(id)) throw new CryptoError('ERR_KEY_UNKNOWN', `master key "${safeId(id)}" is not in the keyring`);
    if (id === this.#primaryId) throw invalid(`cannot retire the primary master key "${id}"; promote another key first`);
    this.#retired.add(id);
  }

  /** Exports key material (copies) for serializeKeyring; handle the result as a secret. */
  entries(): MasterKeyEntry[] {
    return [...this.#keys.values()].map(({ id, key }) => ({
      id,
      key: Buffer.from(key),
      primary: id === this.#primaryId,
    }));
  }

  toJSON(): { primary: string; ids: string[]; retired: string[] } {
    return { primary: this.#primaryId, ids: this.ids(), retired: [...this.#retired] };
  }

  [inspect.custom](): string {
    return `Keyring ${JSON.stringify(this.toJSON())}`;
  }
}

/** Echo an id in a message only if it looks like one, never arbitrary caller text. */
function safeId(id: string): string {
  return typeof id === 'string' && MASTER_KEY_ID_PATTERN.test(id) ? id : '<invalid id>';
}

function decodeBase64Strict(encoded: string): Buffer | undefined {
  if (!BASE64.test(encoded)) return undefined;
  const bytes = Buffer.from(encoded, 'base64');
  return bytes.toString('base64') === encoded ? bytes : undefined;
}

/**
 * Parses `id:base64` entries separated by commas or newlines. Lines starting
 * with `#` are comments. One entry may be prefixed `*` to mark it primary;
 * otherwise the last entry is. Errors name an entry by id or position only.
 */
export function parseMasterKeys(text: string): Keyring {
  if (typeof text !== 'string') throw invalid('master keys must be given as text');
  const rawEntries = text
    .split(/\r?\n/)
    .filter((line) => !line.trimStart().startsWith('#'))
    .flatMap((line) => line.split(','))
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (rawEntries.length === 0) throw invalid('no master keys found');

  const keys: { id: string; key: Buffer }[] = [];
  const positionById = new Map<string, number>();
  let starred: { id: string; position: number } | undefined;

  rawEntries.forEach((entry, index) => {
    const position = index + 1;
    const isPrimary = entry.startsWith('*');
    const body = isPrimary ? entry.slice(1).trimStart() : entry;
    // `k1:*AAAA…`, `k1*:AAAA…`, `AAAA…*`, `**k1:…`: the marker somewhere else than before the id.
    if (body.includes('*')) {
      throw invalid(`master key entry #${position} has the primary marker * in the wrong place: it goes before the id, as in *k2:<base64> (no other * in an entry)`);
    }
    const colon = body.indexOf(':');
    if (colon < 0) throw invalid(`master key entry #${position} is not in the form id:base64`);

    const id = body.slice(0, colon);
    if (!MASTER_KEY_ID_PATTERN.test(id)) {
      throw invalid(`master key entry #${position} has an invalid id (expected 1-32 of A-Z a-z 0-9 _ -)`);
    }
    const firstPosition = positionById.get(id);
    if (firstPosition !== undefined) {
      throw invalid(`master key id "${id}" appears more than once (entries #${firstPosition} and #${position})`);
    }
    positionById.set(id, position);

    const key = decodeBase64Strict(body.slice(colon + 1));
    if (key === undefined) {
      throw invalid(`master key "${id}" (entry #${position}) is not canonical padded base64`);
    }
    if (key.length !== MASTER_KEY_BYTES) {
      throw invalid(`master key "${id}" (entry #${position}) must decode to ${MASTER_KEY_BYTES} bytes, got ${key.length}`);
    }
    if (isPrimary) {
      if (starred !== undefined) {
        throw invalid(`more than one primary marker (*): "${starred.id}" (entry #${starred.position}) and "${id}" (entry #${position})`);
      }
      starred = { id, position };
    }
    keys.push({ id, key });
  });

  const primaryId = starred?.id ?? (keys[keys.length - 1] as { id: string }).id;
  const keyring = new Keyring(keys, primaryId);
  for (const { key } of keys) key.fill(0);
  return keyring;
}

/**
 * Text form accepted by parseMasterKeys, one entry per line. The `*` marker is
 * written only when the primary is not the last entry: a stale `*` would
 * otherwise silently override the "last entry is primary" rule when an
 * operator appends a new key.
 */
export function serializeKeyring(entries: readonly MasterKeyEntry[]): string {
  const flagged = entries.filter((entry) => entry.primary === true);
  if (flagged.length > 1) throw invalid('more than one entry is marked primary');
  const primaryIndex = flagged[0] === undefined ? entries.length - 1 : entries.indexOf(flagged[0]);
  // Validate ids, sizes and duplicates exactly as a parsed keyring would be.
  new Keyring(entries, entries[primaryIndex]?.id ?? '');
  const lines = entries.map(({ id, key }, index) => {
    const marker = index === primaryIndex && index !== entries.length - 1 ? '*' : '';
    return `${marker}${id}:${Buffer.from(key).toString('base64')}`;
  });
  return `${lines.join('\n')}\n`;
}

/**
 * Loads master keys from the env value (OCSUITE_MASTER_KEYS) or a mounted
 * secret file. Exactly one source must be set so the two cannot drift apart.
 * File permissions are not enforced here: orchestrators mount secrets with
 * their own modes (Kubernetes defaults to 0644 inside a private volume).
 */
export function loadMasterKeys(source: { env?: string | undefined; file?: string | undefined }): Keyring {
  const hasEnv = source.env !== undefined && source.env.trim() !== '';
  const hasFile = source.file !== undefined && source.file !== '';
  if (hasEnv && hasFile) {
    throw invalid('both OCSUITE_MASTER_KEYS and a master key file are configured; set exactly one');
  }
  if (hasEnv) return parseMasterKeys(source.env as string);
  if (hasFile) {
    const file = source.file as string;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new CryptoError('ERR_KEYRING_MISSING', `cannot read master key file ${file} (${errnoCode(error)})`);
    }
    return withPath(file, () => parseMasterKeys(text));
  }
  throw new CryptoError('ERR_KEYRING_MISSING', 'no master keys configured: set OCSUITE_MASTER_KEYS or mount a master key file');
}

const KEY_FILE_HEADER = [
  '# OC-Suite master keys: one id:base64 entry (32 bytes) per line.',
  '# The last entry, or the one prefixed with *, is primary.',
  '# Losing this file makes every sealed secret unrecoverable. Back it up; never commit it.',
  '',
].join('\n');

export interface KeyFileResult {
  keyring: Keyring;
  /** True when this call generated the key: callers should warn loudly and ask for a backup. */
  created: boolean;
}

/**
 * Embedded profile: reuse the key file at `path`, or generate one master key
 * `k1` into it. The new file is written and fsynced under a temporary name,
 * then hard-linked into place; link() refuses to overwrite, so concurrent
 * first starts cannot clobber each other or read a half-written file.
 */
export function createKeyFile(path: string): KeyFileResult {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const created = existsSync(path) ? false : publishNewKeyFile(path);
  return { keyring: readPrivateKeyFile(path), created };
}

function publishNewKeyFile(path: string): boolean {
  const key = randomBytes(MASTER_KEY_BYTES);
  const text = KEY_FILE_HEADER + serializeKeyring([{ id: 'k1', key }]);
  key.fill(0);
  const temporary = `${path}.${randomBytes(8).toString('hex')}.tmp`;
  try {
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temporary, path);
    } catch (error) {
      if (errnoCode(error) === 'EEXIST') return false;
      throw error;
    }
    fsyncDirectory(dirname(path));
    return true;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** Reads through one descriptor so the mode checked is the file's that is read. */
function readPrivateKeyFile(path: string): Keyring {
  const fd = openSync(path, 'r');
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw invalid(`master key file ${path} is not a regular file`);
    // POSIX modes are meaningless on Windows; there the directory ACL is the control.
    if (process.platform !== 'win32' && (stats.mode & 0o077) !== 0) {
      const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
      throw new CryptoError(
        'ERR_KEYFILE_PERMISSIONS',
        `master key file ${path} is accessible by group or others (mode ${mode}); run: chmod 600 ${path}`,
      );
    }
    const text = readFileSync(fd, 'utf8');
    return withPath(path, () => parseMasterKeys(text));
  } finally {
    closeSync(fd);
  }
}

/** Directory fsync makes the new link durable; unsupported on some platforms. */
function fsyncDirectory(directory: string): void {
  try {
    const fd = openSync(directory, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Best effort only.
  }
}

function withPath<T>(path: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof CryptoError) throw new CryptoError(error.code, `${path}: ${error.message}`);
    throw error;
  }
}

function errnoCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unreadable';
}

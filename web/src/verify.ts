/**
 * Checks the tenant's transparency log in the browser, trusting nothing but
 * the public key: the checkpoint's Ed25519 signature (C2SP signed note), its
 * origin, and an RFC 9162 inclusion proof of an event against its root.
 */
const b64 = (s: string): Uint8Array => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

export interface ParsedCheckpoint { origin: string; size: number; root: Uint8Array; signed: string; signatures: Array<{ name: string; blob: Uint8Array }> }

export function parseCheckpoint(note: string): ParsedCheckpoint {
  const split = note.indexOf('\n\n');
  if (split < 0) throw new Error('checkpoint is not a signed note');
  const signed = note.slice(0, split + 1);
  const [origin, size, root] = signed.split('\n');
  if (!origin || !size || !/^\d+$/.test(size) || !root) throw new Error('checkpoint body is malformed');
  const signatures = note.slice(split + 2).split('\n').filter(Boolean).map((line) => {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error('signature line is malformed');
    return { name: m[1]!, blob: b64(m[2]!) };
  });
  return { origin, size: Number(size), root: b64(root), signed, signatures };
}

/** `<name>+<hex id>+<base64(0x01 || key)>` → the name, 4-byte id and a WebCrypto Ed25519 key. */
async function importVerifierKey(verifierKey: string): Promise<{ name: string; id: string; key: CryptoKey }> {
  const m = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/i.exec(verifierKey);
  if (!m) throw new Error('verifier key is malformed');
  const raw = b64(m[3]!);
  if (raw.length !== 33 || raw[0] !== 0x01) throw new Error('verifier key is not Ed25519');
  // The key id is SHA-256(name || 0x0A || 0x01 || key)[:4]: recomputed, not trusted.
  const idInput = new Uint8Array([...new TextEncoder().encode(m[1]!), 0x0a, ...raw]);
  const id = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', idInput)).slice(0, 4));
  if (id !== m[2]!.toLowerCase()) throw new Error('verifier key id does not match the key');
  const key = await crypto.subtle.importKey('raw', raw.slice(1), { name: 'Ed25519' }, false, ['verify']);
  return { name: m[1]!, id, key };
}

export async function verifyCheckpoint(note: string, verifierKey: string, expectedOrigin: string): Promise<ParsedCheckpoint> {
  const cp = parseCheckpoint(note);
  if (cp.origin !== expectedOrigin) throw new Error(`checkpoint origin is ${cp.origin}, expected ${expectedOrigin}`);
  const { name, id, key } = await importVerifierKey(verifierKey);
  const mine = cp.signatures.find((s) => s.name === name && hex(s.blob.slice(0, 4)) === id);
  if (!mine || mine.blob.length !== 68) throw new Error('no signature by the log key');
  const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, mine.blob.slice(4), new TextEncoder().encode(cp.signed));
  if (!ok) throw new Error('checkpoint signature does not verify');
  return cp;
}

async function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array([0x01, ...left, ...right])));
}

/** RFC 9162 §2.1.3.2. */
export async function verifyInclusion(index: number, size: number, leafHash: string, proof: string[], root: Uint8Array): Promise<boolean> {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = b64(leafHash);
  for (const p of proof.map(b64)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(r, root);
}

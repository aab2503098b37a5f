import { createHash, createPublicKey, verify } from 'node:crypto';

/**
 * A counterparty's verifier written from the specifications only (RFC 6962 /
 * RFC 9162 §2.1.3.2, C2SP signed-note and tlog-checkpoint, the leaf format of
 * docs/ledger.md), with node:crypto and nothing of OC-Suite: what it accepts
 * is provable with the public verifier key and the proof body alone.
 */
const sha256 = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();

function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
}

function checkpointRoot(note: string, verifierKey: string): { origin: string; size: number; root: Buffer } {
  const [name, keyIdHex, keyB64] = [verifierKey.slice(0, verifierKey.indexOf('+')), ...verifierKey.slice(verifierKey.indexOf('+') + 1).split(/\+(.*)/s)] as [string, string, string];
  const key = Buffer.from(keyB64, 'base64');
  if (key[0] !== 0x01 || key.length !== 33) throw new Error('not an Ed25519 verifier key');
  const keyId = sha256(Buffer.from(`${name}\n`), key).subarray(0, 4);
  if (keyId.toString('hex') !== keyIdHex) throw new Error('key id does not match the key');
  const split = note.lastIndexOf('\n\n');
  const text = note.slice(0, split + 1);
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.subarray(1).toString('base64url') }, format: 'jwk' });
  const signed = note.slice(split + 2).split('\n').filter(Boolean).some((line) => {
    const m = /^— (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== name) return false;
    const sig = Buffer.from(m[2]!, 'base64');
    return sig.subarray(0, 4).equals(keyId) && verify(null, Buffer.from(text), publicKey, sig.subarray(4));
  });
  if (!signed) throw new Error('checkpoint not signed by this key');
  const [origin, size, root] = text.split('\n');
  return { origin: origin!, size: Number(size), root: Buffer.from(root!, 'base64') };
}

function inclusionRoot(leaf: Buffer, index: number, size: number, proof: Buffer[]): Buffer {
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new Error('proof too long');
    if (fn % 2 === 1 || fn === sn) {
      r = sha256(Buffer.from([1]), p, r);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = sha256(Buffer.from([1]), r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error('proof too short');
  return r;
}

export interface ProofBody {
  transfer: Record<string, unknown> & { id: string };
  event: { log?: string; id: string; leafIndex: number; occurredAt: string; actor: unknown; action: string; target: { type: string; id: string } | null; outcome: string; reason: unknown; metadata: { digest?: string; transfer?: unknown }; request: unknown };
  index: number;
  size: number;
  proof: string[];
  checkpoint: string;
}

/** Returns the tenant log the transfer is proven in; throws otherwise. */
export function independentlyVerify(body: ProofBody, verifierKey: string): string {
  const head = checkpointRoot(body.checkpoint, verifierKey);
  const log = head.origin.slice(head.origin.lastIndexOf('/') + 1);
  const e = body.event;
  const leafBytes = canonical({
    format: 'ocsuite.audit.v1', log, id: e.id, time: e.occurredAt, actor: e.actor, action: e.action, target: e.target,
    outcome: e.outcome, reason: e.reason, metadata: e.metadata, request: e.request,
  });
  const leaf = sha256(Buffer.from([0]), Buffer.from(leafBytes, 'utf8'));
  if (body.size !== head.size || e.leafIndex !== body.index) throw new Error('proof and checkpoint disagree');
  if (!inclusionRoot(leaf, body.index, body.size, body.proof.map((p) => Buffer.from(p, 'base64'))).equals(head.root)) throw new Error('not included');
  if (e.target?.type !== 'ledger_transfer' || e.target.id !== body.transfer.id) throw new Error('leaf of another transfer');
  const digest = createHash('sha256').update(canonical({ format: 'ocsuite.ledger.transfer.v1', log, transfer: body.transfer })).digest('hex');
  if (e.metadata.digest !== digest) throw new Error('transfer does not match its leaf');
  return log;
}

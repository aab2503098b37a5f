/**
 * Witnesses of the audit logs (issue #22 §4, docs/security/audit.md "Witnesses").
 *
 * - C2SP tlog-witness witnesses (OCSUITE_WITNESSES): each new checkpoint is
 *   submitted to `<submission prefix>/add-checkpoint` with a consistency proof
 *   from the size the witness last cosigned; the answer is one or more
 *   C2SP tlog-cosignature lines, verified against the configured witness
 *   vkey and stored next to the checkpoint (cosignatures.ts).
 * - The Standard Webhooks witness (OCSUITE_WITNESS_URL, kept from before): the
 *   checkpoint is POSTed as a signed webhook message; nothing comes back.
 *
 * Both run as jobs of the platform queue `translog.witness.push` (witness-push.ts),
 * so a witness that is down gets retries, then a dead letter and an alert.
 * Every request goes through the kernel egress guard (docs/security/egress.md).
 */
import type { Egress } from '../egress/index.ts';
import { signWebhook } from '../webhooks/index.ts';
import { parseCosignatureVerifierKey, type CosignatureVerifier } from '../translog/index.ts';
import type { StoredCheckpoint } from './checkpoints.ts';

export interface WitnessTarget {
  url: string;
  secret: string;
}

export interface WitnessMessage {
  type: 'ocsuite.checkpoint';
  origin: string;
  size: number;
  checkpoint: string;
}

/** A configured C2SP witness: its submission prefix and its cosignature key. */
export interface CosigningWitness {
  /** undefined: not pushed to (an operator posts its cosignatures). */
  url: string | undefined;
  vkey: string;
  verifier: CosignatureVerifier;
}

/** Parses OCSUITE_WITNESSES entries (`<url> <vkey>`); a bad key fails the start. */
export function parseWitnesses(entries: readonly string[]): CosigningWitness[] {
  const out: CosigningWitness[] = [];
  for (const entry of entries) {
    const parts = entry.trim().split(/ +/);
    const [url, vkey] = parts.length === 1 ? [undefined, parts[0]] : parts;
    if (!vkey || parts.length > 2) throw new Error(`OCSUITE_WITNESSES: "${entry}" is not "[<url>] <vkey>"`);
    const verifier = parseCosignatureVerifierKey(vkey);
    if (out.some((w) => w.verifier.name === verifier.name)) throw new Error(`OCSUITE_WITNESSES: witness ${verifier.name} is listed twice`);
    out.push({ url, vkey, verifier });
  }
  return out;
}

export function witnessMessage(cp: Pick<StoredCheckpoint, 'origin' | 'size' | 'note'>): WitnessMessage {
  return { type: 'ocsuite.checkpoint', origin: cp.origin, size: cp.size, checkpoint: cp.note };
}

/**
 * POSTs one checkpoint through the kernel egress guard (the operator's witness URL
 * is checked like any outbound target: docs/security/egress.md); resolves with the
 * HTTP status, rejects when the guard refuses the URL, on network errors or after 5 s.
 */
export async function pushCheckpoint(
  egress: Egress,
  target: WitnessTarget,
  cp: Pick<StoredCheckpoint, 'origin' | 'size' | 'note'>,
  opts: { now?: Date } = {},
): Promise<number> {
  const body = JSON.stringify(witnessMessage(cp));
  // The id names the checkpoint, so a retried push is recognisably the same message.
  const msgId = `cp_${Buffer.from(`${cp.origin}\n${cp.size}`).toString('base64url')}`;
  const timestamp = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const headers = signWebhook({ secret: target.secret, msgId, timestamp, body });
  const res = await egress.request(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    timeoutMs: 5_000,
    maxResponseBytes: 65_536,
  });
  return res.status;
}

/**
 * tlog-witness "add-checkpoint" request body: `old <size>\n`, the consistency
 * proof lines (base64, at most 63; none when the old size is 0), an empty line,
 * then the checkpoint note.
 */
export function addCheckpointBody(oldSize: number, proof: readonly Buffer[], note: string): string {
  if (!Number.isSafeInteger(oldSize) || oldSize < 0) throw new Error('old size must be a non-negative integer');
  if (proof.length > 63) throw new Error('a consistency proof has at most 63 hashes');
  if (oldSize === 0 && proof.length > 0) throw new Error('the proof must be empty from size 0');
  return `old ${oldSize}\n${proof.map((p) => `${p.toString('base64')}\n`).join('')}\n${note}`;
}

export type AddCheckpointAnswer =
  | { kind: 'cosigned'; lines: string[] }
  /** 409 with text/x.tlog.size: the witness last cosigned another size. */
  | { kind: 'conflict'; size: number }
  /** 409 without a size: same size, another root — a fork the witness saw. */
  | { kind: 'fork' }
  | { kind: 'refused'; status: number; detail: string };

/** One add-checkpoint exchange (tlog-witness "add-checkpoint"), through the egress guard. */
export async function addCheckpoint(egress: Egress, witness: { url: string }, body: string): Promise<AddCheckpointAnswer> {
  const url = `${witness.url.replace(/\/+$/, '')}/add-checkpoint`;
  const res = await egress.request(url, {
    method: 'POST',
    headers: { 'content-type': 'text/plain; charset=utf-8', 'user-agent': 'ocsuite-witness-client' },
    body,
    timeoutMs: 10_000,
    maxResponseBytes: 65_536,
  });
  const text = res.body.toString('utf8');
  if (res.status === 200) {
    // One or more note signature lines, each "— …\n".
    return { kind: 'cosigned', lines: text.split('\n').filter((l) => l.length > 0) };
  }
  if (res.status === 409) {
    const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const m = /^(0|[1-9][0-9]{0,15})\n$/.exec(text);
    if (type === 'text/x.tlog.size' && m) return { kind: 'conflict', size: Number(m[1]) };
    return { kind: 'fork' };
  }
  return { kind: 'refused', status: res.status, detail: text.slice(0, 200) };
}

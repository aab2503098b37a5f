/**
 * Optional witness: each new checkpoint is POSTed to OCSUITE_WITNESS_URL as a
 * Standard Webhooks message signed with OCSUITE_WITNESS_SECRET. A witness that
 * keeps every checkpoint it received can later prove the log showed it a
 * history it must stay consistent with (split-view detection).
 */
import type { Egress } from '../egress/index.ts';
import { signWebhook } from '../webhooks/index.ts';
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

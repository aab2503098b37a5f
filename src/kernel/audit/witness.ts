/**
 * Optional witness: each new checkpoint is POSTed to OCSUITE_WITNESS_URL as a
 * Standard Webhooks message signed with OCSUITE_WITNESS_SECRET. A witness that
 * keeps every checkpoint it received can later prove the log showed it a
 * history it must stay consistent with (split-view detection).
 */
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

/** POSTs one checkpoint; resolves with the HTTP status, rejects on network errors or a 5 s timeout. */
export async function pushCheckpoint(
  target: WitnessTarget,
  cp: Pick<StoredCheckpoint, 'origin' | 'size' | 'note'>,
  opts: { fetch?: typeof fetch; now?: Date } = {},
): Promise<number> {
  const body = JSON.stringify(witnessMessage(cp));
  // The id names the checkpoint, so a retried push is recognisably the same message.
  const msgId = `cp_${Buffer.from(`${cp.origin}\n${cp.size}`).toString('base64url')}`;
  const timestamp = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const headers = signWebhook({ secret: target.secret, msgId, timestamp, body });
  const res = await (opts.fetch ?? fetch)(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    redirect: 'error',
    signal: AbortSignal.timeout(5_000),
  });
  return res.status;
}

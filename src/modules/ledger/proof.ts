import { sql } from 'drizzle-orm';
import { auditLeafHash, canonicalJson } from '../../kernel/audit/leaf.ts';
import { findEvent } from '../../kernel/audit/read.ts';
import { auditKernel, tenantLog } from '../../kernel/audit/service.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { isUuid } from '../../kernel/ids.ts';
import type { Platform } from '../../kernel/platform.ts';
import { parseVerifierKey, verifyCheckpoint, verifyInclusion } from '../../kernel/translog/index.ts';
import { jsonLine, recordFromJsonLine, type ApiAuditEvent } from '../audit/format.ts';
import { ledgerNotFound } from './errors.ts';
import { LEDGER_LEAF_FORMAT, transferDigest, transferView, type TransferRow, type TransferView } from './transfer-record.ts';
import { TRANSFER_COLUMNS } from './transfers.ts';

const b64 = (b: Buffer) => b.toString('base64');

/**
 * The proof that a transfer is in its tenant's transparency log: the transfer,
 * its leaf (the audit event, whose metadata is the transfer and its digest),
 * the RFC 6962 inclusion proof of that leaf, and a signed checkpoint the proof
 * leads to. The whole answer is a file `ocsuite verify inclusion` reads as
 * both --proof and --checkpoint (its `event` as --event), and
 * `ocsuite ledger verify-proof` checks all of it with the public key alone.
 */
export function createProofService(platform: Platform) {
  const kernel = auditKernel(platform);
  return {
    async proof(principal: Principal, id: string) {
      if (!isUuid(id)) throw ledgerNotFound('transfer_not_found', 'ledger transfer');
      const log = tenantLog(principal.tenantId);
      // The leaf first, the checkpoint after: a transfer committed a moment ago is then inside it.
      const found = await platform.withTenant(contextOf(principal), async (tx) => {
        const [row] = await tx.query<TransferRow>(sql`SELECT ${TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = ${id.toLowerCase()}`);
        if (!row) return undefined;
        return { row, event: await findEvent(tx, log, row.audit_event_id) };
      });
      if (!found?.event) throw ledgerNotFound('transfer_not_found', 'ledger transfer');
      const cp = await kernel.tenantCheckpoint(principal.tenantId);
      const answer = await platform.withTenant(contextOf(principal), (tx) => kernel.inclusion(tx, log, found.event!.leafIndex, cp.size));
      const transfer = transferView(found.row);
      return {
        transfer,
        digest: transferDigest(principal.tenantId, transfer),
        event: JSON.parse(jsonLine(found.event)) as ApiAuditEvent & { log: string },
        index: answer.index,
        size: answer.size,
        leafHash: b64(answer.leafHash),
        proof: answer.proof.map(b64),
        checkpoint: cp.note,
      };
    },
  };
}

export interface TransferProof {
  transfer: TransferView;
  digest: string;
  event: ApiAuditEvent & { log: string };
  index: number;
  size: number;
  leafHash: string;
  proof: string[];
  checkpoint: string;
}

/**
 * What a counterparty runs (`ocsuite ledger verify-proof`): with nothing but
 * the log's public verifier key, checks that the checkpoint is signed by it,
 * that the leaf recomputed from the event is at `index` under the checkpoint's
 * root, that the event is this transfer's leaf in this tenant's log, and that
 * the transfer's digest is the one the leaf commits to. Throws on any mismatch.
 */
export function verifyTransferProof(body: TransferProof, verifierKey: string, expected?: { transferId?: string; tenantId?: string }): { origin: string; size: number; index: number; tenantId: string } {
  const head = verifyCheckpoint(body.checkpoint, parseVerifierKey(verifierKey));
  const tenantId = head.origin.slice(head.origin.lastIndexOf('/') + 1);
  if (expected?.tenantId && expected.tenantId.toLowerCase() !== tenantId) throw new Error(`the checkpoint is of log ${tenantId}, not ${expected.tenantId}`);
  if (body.size !== head.size) throw new Error(`the proof is for size ${body.size}, the checkpoint for ${head.size}`);
  const record = recordFromJsonLine(JSON.stringify({ ...body.event, log: tenantId }));
  if (record.leafIndex !== body.index) throw new Error(`the event is leaf ${record.leafIndex}, the proof is for ${body.index}`);
  // The leaf hash is recomputed from the event: the served one is not trusted.
  const leaf = auditLeafHash(record);
  verifyInclusion(leaf, body.index, body.size, body.proof.map((p) => Buffer.from(p, 'base64')), head.root);
  const meta = record.metadata as { format?: unknown; digest?: unknown; transfer?: unknown };
  if (meta.format !== LEDGER_LEAF_FORMAT) throw new Error('the leaf is not a ledger transfer');
  if (record.targetType !== 'ledger_transfer' || record.targetId !== body.transfer.id) throw new Error('the leaf is of another transfer');
  if (expected?.transferId && expected.transferId.toLowerCase() !== body.transfer.id) throw new Error(`the proof is of transfer ${body.transfer.id}, not ${expected.transferId}`);
  const digest = transferDigest(tenantId, body.transfer);
  if (meta.digest !== digest || digest !== body.digest) throw new Error('the transfer does not match the digest its leaf commits to');
  if (canonicalJson(meta.transfer) !== canonicalJson(body.transfer)) throw new Error('the transfer differs from the one in its leaf');
  return { origin: head.origin, size: head.size, index: body.index, tenantId };
}

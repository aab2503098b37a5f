/**
 * The knowledge export document and its verification (`ocsuite verify export`, docs/knowledge.md).
 * Pure: what the export job writes and what an outsider checks with nothing but the verifier key.
 *
 * - `entries`: the tenant's entries; `manifest.entries[i].sha256` = SHA-256 of canonical JSON of entry i;
 * - `signature`: a signed note (same Ed25519 log key and note format as audit checkpoints) whose
 *   origin is `<key name>/<tenant>/knowledge-export/<export id>`, size the entry count and root the
 *   SHA-256 of the canonical manifest — so the manifest cannot change without breaking it;
 * - `log`: the `knowledge.exported` audit event (its metadata names the manifest hash), a signed
 *   checkpoint of the tenant's log and the inclusion proof of that event's leaf in it.
 */
import { createHash } from 'node:crypto';
import { auditLeafHash, canonicalJson } from '../../kernel/audit/leaf.ts';
import { verifyInclusion, type TreeHead } from '../../kernel/translog/index.ts';
import { recordFromJsonLine, type ApiAuditEvent } from '../audit/format.ts';

export const EXPORT_FORMAT = 'ocsuite.knowledge.export.v1';
export const MANIFEST_FORMAT = 'ocsuite.knowledge.manifest.v1';

export interface ExportedEntry {
  id: string;
  title: string;
  body: string;
  tags: string[];
  createdAt: string;
  updatedAt: string;
}

export interface ExportManifest {
  format: typeof MANIFEST_FORMAT;
  tenantId: string;
  exportId: string;
  createdAt: string;
  entries: { id: string; sha256: string }[];
}

export interface ExportDocument {
  format: typeof EXPORT_FORMAT;
  manifest: ExportManifest;
  signature: string;
  log: { event: ApiAuditEvent & { log: string }; checkpoint: string; inclusion: { index: number; size: number; proof: string[] } };
  entries: ExportedEntry[];
}

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
export const entryHash = (e: ExportedEntry) => sha256Hex(canonicalJson(e));
export const manifestHash = (m: ExportManifest) => createHash('sha256').update(canonicalJson(m), 'utf8').digest();
export const signatureOrigin = (keyName: string, tenantId: string, exportId: string) => `${keyName}/${tenantId}/knowledge-export/${exportId}`;

export interface ExportVerification {
  entries: number;
  checkpoint: TreeHead;
}

/**
 * Checks an export document against the trusted key(s) (`verifyNote` verifies a signed note and
 * returns its head): the manifest signature, every entry against its hash (and no entry missing
 * or added), and the inclusion of the recording audit event in a signed checkpoint of the
 * tenant's log. Throws on the first failure with what failed.
 */
export function verifyExportDocument(doc: ExportDocument, verifyNote: (note: string) => TreeHead, onEntry?: (done: number, total: number) => void): ExportVerification {
  if (doc?.format !== EXPORT_FORMAT || doc.manifest?.format !== MANIFEST_FORMAT) throw new Error(`not a ${EXPORT_FORMAT} document`);
  const { manifest } = doc;
  if (!Array.isArray(doc.entries) || !Array.isArray(manifest.entries)) throw new Error('entries or manifest.entries missing');

  const signed = verifyNote(doc.signature);
  const keyName = signed.origin.split('/')[0]!;
  if (signed.origin !== signatureOrigin(keyName, manifest.tenantId, manifest.exportId)) {
    throw new Error(`the signature is for ${signed.origin}, not export ${manifest.exportId} of tenant ${manifest.tenantId}`);
  }
  const mHash = manifestHash(manifest);
  if (!signed.root.equals(mHash) || signed.size !== manifest.entries.length) throw new Error('the manifest does not match its signature');

  if (doc.entries.length !== manifest.entries.length) throw new Error(`${doc.entries.length} entries, the manifest lists ${manifest.entries.length}`);
  doc.entries.forEach((e, i) => {
    const listed = manifest.entries[i]!;
    if (e?.id !== listed.id) throw new Error(`entry ${i} is ${String(e?.id)}, the manifest lists ${listed.id}`);
    if (entryHash(e) !== listed.sha256) throw new Error(`entry ${e.id} does not match its SHA-256 in the manifest`);
    onEntry?.(i + 1, doc.entries.length);
  });

  const event = doc.log?.event;
  if (event?.log !== manifest.tenantId || event.action !== 'knowledge.exported') throw new Error('the log record is not a knowledge.exported event of this tenant');
  const meta = event.metadata as { exportId?: unknown; manifestSha256?: unknown };
  if (meta.exportId !== manifest.exportId || meta.manifestSha256 !== mHash.toString('hex')) throw new Error('the audit event records another manifest');
  const head = verifyNote(doc.log.checkpoint);
  if (head.origin !== `${keyName}/${manifest.tenantId}`) throw new Error(`the checkpoint is of log ${head.origin}, not the tenant's`);
  const { index, size, proof } = doc.log.inclusion;
  if (size !== head.size) throw new Error(`the inclusion proof is for size ${size}, the checkpoint for ${head.size}`);
  const record = recordFromJsonLine(JSON.stringify(event));
  if (record.leafIndex !== index) throw new Error(`the event is leaf ${record.leafIndex}, the proof is for ${index}`);
  try {
    verifyInclusion(auditLeafHash(record), index, size, proof.map((p) => Buffer.from(p, 'base64')), head.root);
  } catch {
    throw new Error(`the audit event is not leaf ${index} of the signed log (inclusion proof fails)`);
  }
  return { entries: doc.entries.length, checkpoint: head };
}

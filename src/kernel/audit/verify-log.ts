/**
 * Full re-verification of an audit log from its leaves: every stored row is
 * re-serialised and re-hashed (never trusting the stored leaf hash), the
 * indexes must run 0, 1, 2… without a gap, and the tree folded from the
 * recomputed leaves must reproduce the root of every signed checkpoint. A row
 * altered, removed, inserted or reordered directly in the database — by
 * anyone, the owner role included — shows up as a finding. Needs nothing but
 * the rows, the checkpoints and the log's public key. Memory is O(log n).
 */
import { nodeHash, emptyRoot, verifyCheckpoint, type CheckpointVerifier } from '../translog/index.ts';
import { verifyWithKeys, type trustedKeys } from './key-history.ts';
import { auditLeafHash, type AuditEventRecord } from './leaf.ts';

export interface LeafRow extends AuditEventRecord {
  leafIndex: number;
  leafHash: Buffer;
}

export interface LogFinding {
  kind: 'leaf-altered' | 'leaf-missing' | 'leaf-out-of-order' | 'wrong-log' | 'checkpoint-invalid' | 'checkpoint-mismatch' | 'checkpoint-beyond-log' | 'head-mismatch';
  detail: string;
  leafIndex?: number;
}

export interface LogVerification {
  ok: boolean;
  size: number;
  root: Buffer;
  checkpointsVerified: number;
  /** Leaves 0..coveredSize-1 are under a reproduced signed root; later ones are only hash-consistent. */
  coveredSize: number;
  findings: LogFinding[];
}

/** RFC 6962 root of a growing tree, kept as its peaks (complete subtrees, largest first). */
export class RootAccumulator {
  #peaks: { level: number; hash: Buffer }[] = [];
  size = 0;

  push(leafHash: Buffer): void {
    let node = { level: 0, hash: leafHash };
    while (this.#peaks.length > 0 && this.#peaks[this.#peaks.length - 1]!.level === node.level) {
      const left = this.#peaks.pop()!;
      node = { level: node.level + 1, hash: nodeHash(left.hash, node.hash) };
    }
    this.#peaks.push(node);
    this.size++;
  }

  root(): Buffer {
    if (this.#peaks.length === 0) return emptyRoot();
    let acc = this.#peaks[this.#peaks.length - 1]!.hash;
    for (let i = this.#peaks.length - 2; i >= 0; i--) acc = nodeHash(this.#peaks[i]!.hash, acc);
    return acc;
  }
}

export interface VerifyLogInput {
  /** The log's rows in leaf order. */
  rows: AsyncIterable<LeafRow> | Iterable<LeafRow>;
  /** Signed checkpoint notes of this log, any order. */
  checkpoints: readonly string[];
  verifier: CheckpointVerifier;
  /** The key history to pick each checkpoint's key from by its id (rotation); without it, `verifier` alone. */
  keys?: ReturnType<typeof trustedKeys> | undefined;
  /** The expected checkpoint origin (`<key name>/<tenant id | platform>`). */
  origin: string;
  /** The tenant id the rows must carry (null = platform log). */
  tenantId: string | null;
  /** The service's current head, if known, to compare with. */
  head?: { size: number; root: Buffer } | undefined;
  /** Stop listing findings after this many (the verdict still counts them). */
  maxFindings?: number;
}

export async function verifyAuditLog(input: VerifyLogInput): Promise<LogVerification> {
  const findings: LogFinding[] = [];
  const max = input.maxFindings ?? 100;
  let total = 0;
  const report = (f: LogFinding) => {
    total++;
    if (findings.length < max) findings.push(f);
  };

  const checkpoints: { size: number; root: Buffer }[] = [];
  for (const note of input.checkpoints) {
    try {
      const head = input.keys ? verifyWithKeys(note, input.keys) : verifyCheckpoint(note, input.verifier);
      if (head.origin !== input.origin) report({ kind: 'checkpoint-invalid', detail: `checkpoint for ${head.origin}, expected ${input.origin}` });
      else checkpoints.push(head);
    } catch (err) {
      report({ kind: 'checkpoint-invalid', detail: `checkpoint does not verify: ${(err as Error).message}` });
    }
  }
  checkpoints.sort((a, b) => a.size - b.size);
  let verified = 0;
  let covered = 0;
  let next = 0;
  const acc = new RootAccumulator();
  const checkAt = (size: number) => {
    while (next < checkpoints.length && checkpoints[next]!.size === size) {
      const cp = checkpoints[next++]!;
      if (acc.root().equals(cp.root)) {
        verified++;
        covered = size;
      } else report({ kind: 'checkpoint-mismatch', detail: `leaves 0..${size - 1} do not fold to the root signed at size ${size}` });
    }
  };
  checkAt(0);

  for await (const row of input.rows) {
    const expected = acc.size;
    if (row.leafIndex !== expected) {
      if (row.leafIndex > expected) {
        report({ kind: 'leaf-missing', leafIndex: expected, detail: `leaves ${expected}..${row.leafIndex - 1} are missing` });
      } else {
        report({ kind: 'leaf-out-of-order', leafIndex: row.leafIndex, detail: `leaf ${row.leafIndex} appears again after ${expected - 1}` });
      }
      // Whatever happened, the signed roots can no longer be reproduced from here on; stop folding.
      break;
    }
    if ((row.tenantId ?? null) !== input.tenantId) report({ kind: 'wrong-log', leafIndex: expected, detail: `leaf ${expected} belongs to log ${row.tenantId ?? 'platform'}` });
    const recomputed = auditLeafHash(row);
    if (!recomputed.equals(row.leafHash)) {
      report({ kind: 'leaf-altered', leafIndex: expected, detail: `leaf ${expected} (event ${row.id}) does not hash to its stored leaf hash: the row was changed` });
    }
    // The tree is folded from the recomputed hash: a row changed together with its stored hash still breaks the signed root.
    acc.push(recomputed);
    checkAt(acc.size);
  }

  for (const cp of checkpoints.slice(next)) {
    report({ kind: 'checkpoint-beyond-log', detail: `a checkpoint was signed at size ${cp.size} but only ${acc.size} leaves are present: leaves were removed` });
  }
  const root = acc.root();
  if (input.head && (input.head.size !== acc.size || !input.head.root.equals(root))) {
    report({ kind: 'head-mismatch', detail: `stored head (size ${input.head.size}) differs from the recomputed tree (size ${acc.size})` });
  }
  return { ok: total === 0, size: acc.size, root, checkpointsVerified: verified, coveredSize: covered, findings };
}

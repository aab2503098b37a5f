// A transparency log stored in PostgreSQL (one row per leaf, one row per
// complete internal node, one head row per log).
//
// - Leaves (level 0) live in the caller's leaf table (for audit: the event row
//   itself carries leaf_index and leaf_hash); complete internal nodes
//   (level >= 1) live in a nodes table keyed (log, level, index). Both are
//   write-once, so every append is INSERTs plus one head UPDATE.
// - The head row holds size, root and the peaks (the complete subtrees whose
//   fold is the root, largest first). An append only ever needs the old peaks
//   (tree.ts appendLeaves reads nothing else), so it reads ONE row: the head,
//   locked FOR UPDATE, which serialises appends to a log so sizes and leaf
//   indexes never fork.
// - Proofs and roots read O(log n) nodes in one query (tree.ts hashRanges).

import { sql, type SQL } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { HASH_SIZE, emptyRoot } from './hash.ts';
import { TranslogError } from './errors.ts';
import { appendLeaves, perfectSubtrees, type NodeKey, type NodeReader } from './tree.ts';

/** Where one log lives. All fragments are constant SQL chosen by code, never input. */
export interface LogTables {
  /** Leaf table with `<keyColumn>`, `leaf_index bigint`, `leaf_hash bytea`. */
  leaves: SQL;
  /** (`<keyColumn>`, level smallint, idx bigint, hash bytea). */
  nodes: SQL;
  /** (`<keyColumn>` unique, size bigint, root bytea, peaks bytea, updated_at). */
  heads: SQL;
  keyColumn: SQL;
}

export interface LogRef {
  tables: LogTables;
  /** The key value as a typed SQL expression, e.g. sql`${id}::uuid`. */
  key: SQL;
}

export interface LogHead {
  size: number;
  root: Buffer;
  /** Complete subtrees of the tree, largest first (perfectSubtrees(0, size)). */
  peaks: Buffer[];
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const toInt = (v: unknown) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new TranslogError('ERR_TRANSLOG_NODE_MISSING', `stored size/index ${String(v)} is not a safe integer`);
  return n;
};

function splitPeaks(size: number, packed: Buffer): Buffer[] {
  const count = perfectSubtrees(0, size).length;
  if (packed.length !== count * HASH_SIZE) {
    throw new TranslogError('ERR_TRANSLOG_NODE_MISSING', `head of size ${size} holds ${packed.length / HASH_SIZE} peaks, expected ${count}`);
  }
  return Array.from({ length: count }, (_, i) => packed.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
}

type HeadRow = { size: unknown; root: string | null; peaks: string };

function headOf(row: HeadRow | undefined): LogHead {
  if (!row) return { size: 0, root: emptyRoot(), peaks: [] };
  const size = toInt(row.size);
  return { size, root: row.root ? Buffer.from(row.root, 'hex') : emptyRoot(), peaks: splitPeaks(size, Buffer.from(row.peaks, 'hex')) };
}

/** The current head without locking (readers, checkpoints). */
export async function readHead(tx: Session, log: LogRef): Promise<LogHead> {
  const { heads, keyColumn } = log.tables;
  const [row] = await tx.query<HeadRow>(sql`
    SELECT size, encode(root, 'hex') AS root, encode(peaks, 'hex') AS peaks FROM ${heads} WHERE ${keyColumn} = ${log.key}`);
  return headOf(row);
}

/** Locks the log's head row for the rest of the transaction, creating it on first use. */
export async function lockHead(tx: Session, log: LogRef): Promise<LogHead> {
  const { heads, keyColumn } = log.tables;
  const select = sql`
    SELECT size, encode(root, 'hex') AS root, encode(peaks, 'hex') AS peaks FROM ${heads} WHERE ${keyColumn} = ${log.key} FOR UPDATE`;
  let [row] = await tx.query<HeadRow>(select);
  if (!row) {
    await tx.query(sql`INSERT INTO ${heads} (${keyColumn}) VALUES (${log.key}) ON CONFLICT (${keyColumn}) DO NOTHING`);
    [row] = await tx.query<HeadRow>(select);
    if (!row) throw new TranslogError('ERR_TRANSLOG_NODE_MISSING', 'log head could not be created');
  }
  return headOf(row);
}

export interface AppendPlan {
  oldSize: number;
  size: number;
  root: Buffer;
  peaks: Buffer[];
  /** Internal nodes (level >= 1) that became complete. */
  nodes: { level: number; index: number; hash: Buffer }[];
}

/** Computes an append from the old head alone (pure; no reads). */
export async function planAppend(head: LogHead, leafHashes: readonly Uint8Array[]): Promise<AppendPlan> {
  const oldPeaks = perfectSubtrees(0, head.size);
  const known = new Map(oldPeaks.map((k, i) => [`${k.level}/${k.index}`, head.peaks[i] as Buffer]));
  const reader: NodeReader = {
    async getNodes(keys) {
      return keys.map((k) => {
        const h = known.get(`${k.level}/${k.index}`);
        if (!h) throw new TranslogError('ERR_TRANSLOG_NODE_MISSING', `append needs node ${k.level}/${k.index}, which is not a peak`);
        return h;
      });
    },
  };
  const result = await appendLeaves(reader, head.size, leafHashes);
  for (const n of result.nodes) known.set(`${n.level}/${n.index}`, n.hash);
  const peaks = perfectSubtrees(0, result.size).map((k) => known.get(`${k.level}/${k.index}`) as Buffer);
  return { oldSize: head.size, size: result.size, root: result.root, peaks, nodes: result.nodes.filter((n) => n.level > 0) };
}

/**
 * The statement that writes an append: the caller's leaf INSERT (which must
 * write leaf_index oldSize… in order), the new internal nodes, and the head,
 * as ONE statement of data-modifying CTEs, so an append costs two round trips
 * (lock, write) whatever its size.
 */
export function appendStatement(log: LogRef, plan: AppendPlan, insertLeaves: SQL): SQL {
  const { nodes, heads, keyColumn } = log.tables;
  const levels = plan.nodes.map((n) => n.level);
  const indexes = plan.nodes.map((n) => n.index);
  const hashes = plan.nodes.map((n) => hex(n.hash));
  return sql`
    WITH appended_leaves AS (${insertLeaves}),
    appended_nodes AS (
      INSERT INTO ${nodes} (${keyColumn}, level, idx, hash)
      SELECT ${log.key}, l, i, decode(h, 'hex') FROM unnest(${sql.param(levels)}::smallint[], ${sql.param(indexes)}::bigint[], ${sql.param(hashes)}::text[]) AS n(l, i, h)
    )
    UPDATE ${heads} SET size = ${plan.size}, root = decode(${hex(plan.root)}, 'hex'),
      peaks = decode(${plan.peaks.map(hex).join('')}, 'hex'), updated_at = now()
    WHERE ${keyColumn} = ${log.key} AND size = ${plan.oldSize}
    RETURNING size`;
}

/** Runs an append planned from a head locked in this transaction. */
export async function writeAppend(tx: Session, log: LogRef, plan: AppendPlan, insertLeaves: SQL): Promise<void> {
  const rows = await tx.query(appendStatement(log, plan, insertLeaves));
  if (rows.length !== 1) throw new TranslogError('ERR_TRANSLOG_NODE_CONFLICT', `log head moved from size ${plan.oldSize} during the append`);
}

/** Hashes of complete nodes, by `level/index`; what a proof reader may keep between proofs (write-once nodes). */
export interface NodeCache {
  get(key: string): Buffer | undefined;
  set(key: string, hash: Buffer): void;
}

/**
 * Lowest level kept in a NodeCache: a node of level 8 covers 256 leaves, so a tree of 1,000,000
 * leaves has about 8,000 such nodes above it, while every proof still reads its own leaf and
 * the few low nodes next to it from the database.
 */
export const CACHED_MIN_LEVEL = 8;

/**
 * A NodeReader for proofs that reads the head's size in the same statement as the nodes (one
 * round trip for both, `headSize()` after the first read) and serves upper nodes from `cache`.
 * Nodes are write-once and the cache is the caller's (one per log family and database), so a
 * cached hash is the one the table holds; the head and every leaf are still read in the
 * caller's transaction, under its row-level security.
 */
export function proofNodeReader(tx: Session, log: LogRef, cacheKey: string, cache: NodeCache): NodeReader & { headSize(): number | undefined } {
  const { leaves, nodes, heads, keyColumn } = log.tables;
  let size: number | undefined;
  const id = (k: NodeKey) => `${cacheKey}|${k.level}/${k.index}`;
  return {
    headSize: () => size,
    async getNodes(keys: readonly NodeKey[]): Promise<Buffer[]> {
      const found = new Map<string, Buffer>();
      const inner: NodeKey[] = [];
      for (const k of keys) {
        if (k.level === 0) continue;
        const hit = k.level >= CACHED_MIN_LEVEL ? cache.get(id(k)) : undefined;
        if (hit) found.set(`${k.level}/${k.index}`, hit);
        else inner.push(k);
      }
      const leafIdx = keys.filter((k) => k.level === 0).map((k) => k.index);
      const rows = await tx.query<{ level: number; idx: unknown; hash: string | null }>(sql`
        SELECT -1 AS level, h.size AS idx, NULL::text AS hash FROM ${heads} h WHERE h.${keyColumn} = ${log.key}
        UNION ALL
        SELECT n.level::int, n.idx, encode(n.hash, 'hex')
        FROM unnest(${sql.param(inner.map((k) => k.level))}::smallint[], ${sql.param(inner.map((k) => k.index))}::bigint[]) AS k(level, idx)
        JOIN ${nodes} n ON n.${keyColumn} = ${log.key} AND n.level = k.level AND n.idx = k.idx
        UNION ALL
        SELECT 0, l.leaf_index, encode(l.leaf_hash, 'hex')
        FROM unnest(${sql.param(leafIdx)}::bigint[]) AS k(idx)
        JOIN ${leaves} l ON l.${keyColumn} = ${log.key} AND l.leaf_index = k.idx`);
      size ??= 0;
      for (const r of rows) {
        const level = Number(r.level);
        if (level < 0) {
          size = toInt(r.idx);
          continue;
        }
        const index = toInt(r.idx);
        const hash = Buffer.from(r.hash!, 'hex');
        found.set(`${level}/${index}`, hash);
        if (level >= CACHED_MIN_LEVEL) cache.set(id({ level, index }), hash);
      }
      return keys.map((k) => {
        const h = found.get(`${k.level}/${k.index}`);
        if (!h) throw new TranslogError('ERR_TRANSLOG_NODE_MISSING', `node ${k.level}/${k.index} not found`);
        return h;
      });
    },
  };
}

/**
 * An append planned from a head this process saw (its own last append), written in ONE round
 * trip: the head UPDATE is a compare-and-set on size AND root, and the leaf and node INSERTs run
 * only when it matched (`gate`, which the caller puts in its leaf INSERT's WHERE). The row lock
 * the UPDATE takes is the one lockHead takes, so appends still serialise; a head that moved (another
 * process or transaction appended, or the append that set the remembered head rolled back) matches
 * nothing, writes nothing, and returns false: the caller then appends the locking way.
 */
export async function writeAppendIfHead(tx: Session, log: LogRef, expected: LogHead, plan: AppendPlan, insertLeaves: (gate: SQL) => SQL): Promise<boolean> {
  const { nodes, heads, keyColumn } = log.tables;
  const gate = sql`EXISTS (SELECT 1 FROM moved)`;
  const rows = await tx.query(sql`
    WITH moved AS (
      UPDATE ${heads} SET size = ${plan.size}, root = decode(${hex(plan.root)}, 'hex'),
        peaks = decode(${plan.peaks.map(hex).join('')}, 'hex'), updated_at = now()
      WHERE ${keyColumn} = ${log.key} AND size = ${expected.size} AND root = decode(${hex(expected.root)}, 'hex')
      RETURNING size
    ),
    appended_leaves AS (${insertLeaves(gate)}),
    appended_nodes AS (
      INSERT INTO ${nodes} (${keyColumn}, level, idx, hash)
      SELECT ${log.key}, l, i, decode(h, 'hex') FROM unnest(${sql.param(plan.nodes.map((n) => n.level))}::smallint[], ${sql.param(plan.nodes.map((n) => n.index))}::bigint[], ${sql.param(plan.nodes.map((n) => hex(n.hash)))}::text[]) AS n(l, i, h)
      WHERE ${gate}
    )
    SELECT size FROM moved`);
  return rows.length === 1;
}

/** Reads complete nodes for the pure tree algorithms: level 0 from the leaf table, the rest from the nodes table. */
export function dbNodeReader(tx: Session, log: LogRef): NodeReader {
  const { leaves, nodes, keyColumn } = log.tables;
  return {
    async getNodes(keys: readonly NodeKey[]): Promise<Buffer[]> {
      const leafIdx = keys.filter((k) => k.level === 0).map((k) => k.index);
      const inner = keys.filter((k) => k.level > 0);
      const rows = await tx.query<{ level: number; idx: unknown; hash: string }>(sql`
        SELECT n.level::int AS level, n.idx, encode(n.hash, 'hex') AS hash
        FROM unnest(${sql.param(inner.map((k) => k.level))}::smallint[], ${sql.param(inner.map((k) => k.index))}::bigint[]) AS k(level, idx)
        JOIN ${nodes} n ON n.${keyColumn} = ${log.key} AND n.level = k.level AND n.idx = k.idx
        UNION ALL
        SELECT 0, l.leaf_index, encode(l.leaf_hash, 'hex')
        FROM unnest(${sql.param(leafIdx)}::bigint[]) AS k(idx)
        JOIN ${leaves} l ON l.${keyColumn} = ${log.key} AND l.leaf_index = k.idx`);
      const found = new Map(rows.map((r) => [`${Number(r.level)}/${toInt(r.idx)}`, Buffer.from(r.hash, 'hex')]));
      return keys.map((k) => {
        const h = found.get(`${k.level}/${k.index}`);
        if (!h) throw new TranslogError('ERR_TRANSLOG_NODE_MISSING', `node ${k.level}/${k.index} not found`);
        return h;
      });
    },
  };
}

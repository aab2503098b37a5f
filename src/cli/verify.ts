/**
 * `ocsuite verify …`: checks what the audit service publishes with nothing but
 * its public verifier key (GET /api/v1/translog/key, or a copy kept out of
 * band). Inputs are files (or `-` for stdin) holding what the API returned.
 *
 *   verify checkpoint <file> --key K
 *   verify inclusion --key K --checkpoint F --proof F [--event F]
 *   verify consistency --key K --old F --new F --proof F
 *   verify log --events export.jsonl --checkpoint F [--checkpoint F…] --key K
 *   verify log (--tenant ID | --platform) [--key K]     (reads the database)
 *
 * Exit status: 0 verified, 1 verification failed, 2 usage error.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.ts';
import { openDatabase } from '../db/open.ts';
import { auditLeafHash } from '../kernel/audit/leaf.ts';
import { storedVerifierKey, verifyStoredLog } from '../kernel/audit/verify-db.ts';
import { createProgress } from './progress.ts';
import { verifyAuditLog, type LeafRow, type LogVerification } from '../kernel/audit/verify-log.ts';
import { parseCheckpoint, parseVerifierKey, verifyCheckpoint, verifyConsistency, verifyInclusion, type TreeHead } from '../kernel/translog/index.ts';
import { recordFromJsonLine } from '../modules/audit/format.ts';
import { isUuid } from '../kernel/ids.ts';

export interface VerifyIo {
  out(line: string): void;
  err(line: string): void;
}

const consoleIo: VerifyIo = { out: (l) => console.log(l), err: (l) => console.error(l) };

class UsageError extends Error {}

function readInput(path: string): string {
  return fs.readFileSync(path === '-' ? 0 : path, 'utf8');
}

/** A verifier key given inline (`name+id+key`) or as a file holding it. */
function keyArg(value: string | undefined): string {
  if (!value) throw new UsageError('--key is required (the verifier key from GET /api/v1/translog/key)');
  // An existing file wins: a path may contain '+' too.
  return fs.existsSync(value) || !value.includes('+') ? readInput(value).trim() : value.trim();
}

/** A checkpoint file: the signed note itself, or the JSON body of GET /api/v1/translog/checkpoint. */
function checkpointNote(path: string): string {
  const text = readInput(path);
  if (text.trimStart().startsWith('{')) {
    const body = JSON.parse(text) as { checkpoint?: unknown };
    if (typeof body.checkpoint !== 'string') throw new UsageError(`${path}: JSON without a "checkpoint" field`);
    return body.checkpoint;
  }
  return text;
}

/** Canonical padded base64 only: Node's decoder would skip junk characters and whitespace silently. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const b64 = (s: unknown, what: string): Buffer => {
  if (typeof s !== 'string' || !BASE64.test(s)) throw new UsageError(`${what} must be a canonical base64 string`);
  return Buffer.from(s, 'base64');
};

/** A tree size or leaf index as the API writes it: a JSON number, a non-negative safe integer. */
const count = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new UsageError(`${what} must be a non-negative integer`);
  return v;
};

function proofFile(path: string): Record<string, unknown> & { proof: Buffer[] } {
  const body = JSON.parse(readInput(path)) as Record<string, unknown>;
  if (!Array.isArray(body.proof)) throw new UsageError(`${path}: no "proof" array`);
  return { ...body, proof: body.proof.map((p, i) => b64(p, `proof[${i}]`)) };
}

const describeHead = (h: TreeHead) => `${h.origin} size ${h.size} root ${h.root.toString('base64')}`;

function checkpointCmd(args: string[], io: VerifyIo): number {
  const { values, positionals } = parseArgs({ args, options: { key: { type: 'string' }, origin: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError('verify checkpoint <file> --key K');
  const head = verifyCheckpoint(checkpointNote(positionals[0]!), parseVerifierKey(keyArg(values.key)));
  if (values.origin && head.origin !== values.origin) throw new Error(`checkpoint is for ${head.origin}, not ${values.origin}`);
  io.out(`OK checkpoint ${describeHead(head)}`);
  return 0;
}

function inclusionCmd(args: string[], io: VerifyIo): number {
  const { values } = parseArgs({ args, options: { key: { type: 'string' }, checkpoint: { type: 'string' }, proof: { type: 'string' }, event: { type: 'string' } } });
  if (!values.checkpoint || !values.proof) throw new UsageError('verify inclusion --key K --checkpoint F --proof F [--event F]');
  const head = verifyCheckpoint(checkpointNote(values.checkpoint), parseVerifierKey(keyArg(values.key)));
  const p = proofFile(values.proof);
  const index = count(p.index, 'index');
  const size = count(p.size, 'size');
  if (size !== head.size) throw new Error(`the proof is for size ${size}, the checkpoint for ${head.size}`);
  let leaf = b64(p.leafHash, 'leafHash');
  if (values.event) {
    // The leaf is recomputed from the event's content: the served leaf hash is not trusted.
    // An export line names its log; an API item does not, and then the checkpoint's origin does.
    const parsed = JSON.parse(readInput(values.event)) as Record<string, unknown>;
    const log = typeof parsed.log === 'string' ? parsed.log : head.origin.slice(head.origin.lastIndexOf('/') + 1);
    const record = recordFromJsonLine(JSON.stringify({ ...parsed, log }));
    leaf = auditLeafHash(record);
    if (record.leafIndex !== index) throw new Error(`the event is leaf ${record.leafIndex}, the proof is for ${index}`);
  }
  verifyInclusion(leaf, index, size, p.proof, head.root);
  io.out(`OK leaf ${index} is in ${describeHead(head)}`);
  return 0;
}

function consistencyCmd(args: string[], io: VerifyIo): number {
  const { values } = parseArgs({ args, options: { key: { type: 'string' }, old: { type: 'string' }, new: { type: 'string' }, proof: { type: 'string' } } });
  if (!values.old || !values.new || !values.proof) throw new UsageError('verify consistency --key K --old F --new F --proof F');
  const verifier = parseVerifierKey(keyArg(values.key));
  const older = verifyCheckpoint(checkpointNote(values.old), verifier);
  const newer = verifyCheckpoint(checkpointNote(values.new), verifier);
  if (older.origin !== newer.origin) throw new Error(`checkpoints of different logs: ${older.origin} and ${newer.origin}`);
  const p = proofFile(values.proof);
  if (count(p.from, 'from') !== older.size || count(p.to, 'to') !== newer.size) throw new Error(`the proof is for ${String(p.from)}→${String(p.to)}, the checkpoints for ${older.size}→${newer.size}`);
  verifyConsistency(older.size, newer.size, p.proof, older.root, newer.root);
  io.out(`OK ${describeHead(newer)} extends size ${older.size}`);
  return 0;
}

async function* exportedRows(path: string): AsyncGenerator<LeafRow> {
  const lines = readline.createInterface({ input: path === '-' ? process.stdin : fs.createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) if (line.trim()) yield recordFromJsonLine(line);
}

function printVerification(r: LogVerification & { origin: string }, io: VerifyIo): number {
  if (r.ok) {
    io.out(`OK log ${r.origin}: ${r.size} leaves re-hashed, root ${r.root.toString('base64')}, ${r.checkpointsVerified} signed checkpoint(s) reproduced`);
    // Only a signed root authenticates leaves; later ones are consistent with each other, no more.
    io.out(r.coveredSize >= r.size ? `  signed checkpoints cover all ${r.size} leaves`
      : r.coveredSize === 0 ? `  no signed checkpoint covers any of the ${r.size} leaves yet`
        : `  signed checkpoints cover leaves 0..${r.coveredSize - 1}; ${r.size - r.coveredSize} later leaf(s) are not covered by any signature yet`);
    return 0;
  }
  io.err(`FAILED log ${r.origin}: ${r.findings.length} finding(s)`);
  for (const f of r.findings) io.err(`  ${f.kind}: ${f.detail}`);
  return 1;
}

export async function verifyLogCmd(args: string[], io: VerifyIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { key: { type: 'string' }, tenant: { type: 'string' }, platform: { type: 'boolean' }, events: { type: 'string' }, checkpoint: { type: 'string', multiple: true } },
  });
  if (values.events) {
    const verifier = parseVerifierKey(keyArg(values.key));
    const notes = (values.checkpoint ?? []).map(checkpointNote);
    if (notes.length === 0) throw new UsageError('verify log --events F needs at least one --checkpoint');
    const logName = values.tenant ?? (values.platform ? 'platform' : parseCheckpoint(notes[0]!).origin.split('/').pop()!);
    const origin = `${verifier.keyName}/${logName}`;
    const r = await verifyAuditLog({ rows: exportedRows(values.events), checkpoints: notes, verifier, origin, tenantId: logName === 'platform' ? null : logName });
    return printVerification({ ...r, origin }, io);
  }
  if (!values.tenant === !values.platform) throw new UsageError('verify log needs --tenant ID or --platform (or --events F)');
  if (values.tenant && !isUuid(values.tenant)) throw new UsageError('--tenant must be a tenant id (UUID)');
  const kept = (values.checkpoint ?? []).map(checkpointNote);
  let key = values.key ? keyArg(values.key) : undefined;
  if (key) parseVerifierKey(key); // a bad key fails before the database is opened
  const config = loadConfig(env);
  const db = await openDatabase(config);
  try {
    if (!key) {
      key = await storedVerifierKey(db, config.statementTimeoutMs);
      io.err('note: using the verifier key stored in this database; pass --key to check against a key you trust');
    }
    const progress = createProgress();
    const r = await verifyStoredLog(db, config.statementTimeoutMs, values.platform ? null : values.tenant!.toLowerCase(), key, kept,
      (done, total) => progress.update('leaves re-hashed', done, total));
    progress.finish();
    return printVerification(r, io);
  } finally {
    await db.close();
  }
}

const subcommands: Record<string, (args: string[], io: VerifyIo) => number | Promise<number>> = {
  checkpoint: checkpointCmd,
  inclusion: inclusionCmd,
  consistency: consistencyCmd,
  log: (a, io) => verifyLogCmd(a, io),
};

export async function verifyCommand(args: string[], io: VerifyIo = consoleIo): Promise<number> {
  const [sub, ...rest] = args;
  const run = sub ? subcommands[sub] : undefined;
  if (!run) {
    io.err('usage: ocsuite verify checkpoint|inclusion|consistency|log … (see docs/security/audit.md)');
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`ocsuite verify ${sub}: ${(err as Error).message}`);
      return 2;
    }
    io.err(`FAILED ${sub}: ${(err as Error).message}`);
    return 1;
  }
}

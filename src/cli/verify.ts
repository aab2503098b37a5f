/**
 * `ocsuite verify …`: checks what the audit service publishes with nothing but
 * its public verifier key (GET /api/v1/translog/key, or a copy kept out of
 * band). Inputs are files (or `-` for stdin) holding what the API returned.
 *
 * `--key` may be given several times and `--keys F` names a key history (the
 * body of GET /api/v1/translog/keys): each checkpoint is then checked with the
 * key whose id its signature line carries, and a retired key's signature over
 * a size it had not signed when it retired is refused (docs/security/audit.md).
 *
 *   verify checkpoint <file|-> --key K [--witness VKEY …]   (each named witness must have cosigned it)
 *   verify inclusion --key K --checkpoint F --proof F [--event F]
 *   verify consistency --key K --old F --new F --proof F
 *   verify log --events export.jsonl --checkpoint F [--checkpoint F…] --key K
 *   verify log (--tenant ID | --platform) [--key K]     (reads the database)
 *   verify export <file> --key K                         (a knowledge export: signature, entry hashes, log inclusion)
 *
 * Exit status: 0 verified, 1 verification failed, 2 usage error.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.ts';
import { openDatabase } from '../db/open.ts';
import { auditLeafHash } from '../kernel/audit/leaf.ts';
import { storedKeyHistory, storedVerifierKey, verifyStoredLog } from '../kernel/audit/verify-db.ts';
import { createProgress } from './progress.ts';
import { verifyAuditLog, type LeafRow, type LogVerification } from '../kernel/audit/verify-log.ts';
import { parseCheckpoint, parseCosignatureVerifierKey, parseVerifierKey, verifyCheckpoint, verifyConsistency, verifyCosigned, verifyInclusion, type TreeHead } from '../kernel/translog/index.ts';
import { recordFromJsonLine } from '../modules/audit/format.ts';
import { isUuid } from '../kernel/ids.ts';
import { verifyExportDocument, type ExportDocument } from '../modules/knowledge/export-format.ts';
import { trustedKeys, verifyWithKeys, type HistoryKey } from '../kernel/audit/key-history.ts';

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

/** Every key given: `--key` (repeatable) and the entries of a `--keys` history file. */
function keysArg(values: { key?: string[] | undefined; keys?: string | undefined }): (string | HistoryKey)[] {
  const keys: (string | HistoryKey)[] = (values.key ?? []).map((k) => keyArg(k));
  if (values.keys) {
    const body = JSON.parse(readInput(values.keys)) as unknown;
    const list = Array.isArray(body) ? body : (body as { keys?: unknown }).keys;
    if (!Array.isArray(list)) throw new UsageError(`${values.keys}: expected the JSON of GET /api/v1/translog/keys`);
    for (const k of list as HistoryKey[]) {
      if (typeof k?.verifierKey !== 'string' || (k.validUntil !== null && typeof k.validUntil !== 'string')) throw new UsageError(`${values.keys}: malformed key entry`);
      keys.push(k);
    }
  }
  if (keys.length === 0) keyArg(undefined);
  return keys;
}

/** The checker of checkpoint notes: one key as before, or the key picked by id among several. */
function noteVerifier(values: { key?: string[] | undefined; keys?: string | undefined }): (note: string) => TreeHead {
  const keys = keysArg(values);
  if (keys.length === 1 && typeof keys[0] === 'string') {
    const verifier = parseVerifierKey(keys[0]);
    return (note) => verifyCheckpoint(note, verifier);
  }
  const trusted = trustedKeys(keys);
  return (note) => verifyWithKeys(note, trusted);
}

const keyOptions = { key: { type: 'string', multiple: true }, keys: { type: 'string' } } as const;
const witnessOption = { witness: { type: 'string', multiple: true } } as const;

/**
 * C2SP tlog-cosignature: every witness named with --witness (a vkey
 * `<name>+<hex id>+<base64 key>`, inline or in a file) must have a valid
 * cosignature line on the note; lines of other witnesses are ignored.
 */
function requireWitnesses(note: string, witnesses: readonly string[] | undefined): string[] {
  const verified: string[] = [];
  for (const w of witnesses ?? []) {
    const vkey = fs.existsSync(w) || !w.includes('+') ? readInput(w).trim() : w.trim();
    let verifier;
    try {
      verifier = parseCosignatureVerifierKey(vkey);
    } catch (err) {
      throw new UsageError(`--witness ${w}: ${(err as Error).message}`);
    }
    const c = verifyCosigned(note, verifier);
    verified.push(`${c.name} at ${new Date(c.timestamp * 1000).toISOString()}`);
  }
  return verified;
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
  const { values, positionals } = parseArgs({ args, options: { ...keyOptions, ...witnessOption, origin: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError('verify checkpoint <file|-> --key K [--witness VKEY …]');
  const note = checkpointNote(positionals[0]!);
  const head = noteVerifier(values)(note);
  if (values.origin && head.origin !== values.origin) throw new Error(`checkpoint is for ${head.origin}, not ${values.origin}`);
  const cosigned = requireWitnesses(note, values.witness);
  io.out(`OK checkpoint ${describeHead(head)}`);
  for (const c of cosigned) io.out(`  cosigned by ${c}`);
  return 0;
}

function inclusionCmd(args: string[], io: VerifyIo): number {
  const { values } = parseArgs({ args, options: { ...keyOptions, ...witnessOption, checkpoint: { type: 'string' }, proof: { type: 'string' }, event: { type: 'string' } } });
  if (!values.checkpoint || !values.proof) throw new UsageError('verify inclusion --key K --checkpoint F --proof F [--event F] [--witness VKEY …]');
  const note = checkpointNote(values.checkpoint);
  const head = noteVerifier(values)(note);
  requireWitnesses(note, values.witness);
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
  const { values } = parseArgs({ args, options: { ...keyOptions, old: { type: 'string' }, new: { type: 'string' }, proof: { type: 'string' } } });
  if (!values.old || !values.new || !values.proof) throw new UsageError('verify consistency --key K --old F --new F --proof F');
  const verify = noteVerifier(values);
  const older = verify(checkpointNote(values.old));
  const newer = verify(checkpointNote(values.new));
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
    options: { ...keyOptions, tenant: { type: 'string' }, platform: { type: 'boolean' }, events: { type: 'string' }, checkpoint: { type: 'string', multiple: true } },
  });
  if (values.events) {
    const given = keysArg(values);
    const keys = given.length === 1 && typeof given[0] === 'string' ? undefined : trustedKeys(given);
    const verifier = keys ? keys[0]!.verifier : parseVerifierKey(given[0] as string);
    const notes = (values.checkpoint ?? []).map(checkpointNote);
    if (notes.length === 0) throw new UsageError('verify log --events F needs at least one --checkpoint');
    const logName = values.tenant ?? (values.platform ? 'platform' : parseCheckpoint(notes[0]!).origin.split('/').pop()!);
    const origin = `${verifier.keyName}/${logName}`;
    const r = await verifyAuditLog({ rows: exportedRows(values.events), checkpoints: notes, verifier, keys, origin, tenantId: logName === 'platform' ? null : logName });
    return printVerification({ ...r, origin }, io);
  }
  if (!values.tenant === !values.platform) throw new UsageError('verify log needs --tenant ID or --platform (or --events F)');
  if (values.tenant && !isUuid(values.tenant)) throw new UsageError('--tenant must be a tenant id (UUID)');
  const kept = (values.checkpoint ?? []).map(checkpointNote);
  let key: string | (string | HistoryKey)[] | undefined = values.key || values.keys ? keysArg(values) : undefined;
  if (key) trustedKeys(key); // a bad key fails before the database is opened
  if (key?.length === 1 && typeof key[0] === 'string') key = key[0];
  const config = loadConfig(env);
  const db = await openDatabase(config);
  try {
    if (!key) {
      // Every key this database ever used, with the sizes it had signed of this log when it retired.
      const history = await storedKeyHistory(db, config.statementTimeoutMs, values.platform ? 'platform' : values.tenant!.toLowerCase());
      key = history.length === 1 ? history[0]!.verifierKey : history;
      if (history.length === 0) key = await storedVerifierKey(db, config.statementTimeoutMs);
      io.err('note: using the verifier keys stored in this database; pass --key to check against a key you trust');
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

/** A knowledge export (GET /api/v1/knowledge/exports/{id}/download): nothing is trusted but the key. */
function exportCmd(args: string[], io: VerifyIo): number {
  const { values, positionals } = parseArgs({ args, options: { ...keyOptions }, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError('verify export <file> --key K');
  const verify = noteVerifier(values);
  let doc: ExportDocument;
  try {
    doc = JSON.parse(readInput(positionals[0]!)) as ExportDocument;
  } catch {
    throw new UsageError(`${positionals[0]}: not a JSON document`);
  }
  const progress = createProgress();
  let r: ReturnType<typeof verifyExportDocument>;
  try {
    r = verifyExportDocument(doc, verify, (done, total) => progress.update('entries hashed', done, total));
  } finally {
    progress.finish();
  }
  io.out(`OK export ${doc.manifest.exportId} of tenant ${doc.manifest.tenantId}: manifest signature, ${r.entries} entry hash(es), audit leaf ${doc.log.inclusion.index} in ${describeHead(r.checkpoint)}`);
  return 0;
}

const subcommands: Record<string, (args: string[], io: VerifyIo) => number | Promise<number>> = {
  checkpoint: checkpointCmd,
  inclusion: inclusionCmd,
  consistency: consistencyCmd,
  log: (a, io) => verifyLogCmd(a, io),
  export: exportCmd,
};

export async function verifyCommand(args: string[], io: VerifyIo = consoleIo): Promise<number> {
  const [sub, ...rest] = args;
  const run = sub ? subcommands[sub] : undefined;
  if (!run) {
    io.err('usage: ocsuite verify checkpoint|inclusion|consistency|log|export … (see docs/security/audit.md)');
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

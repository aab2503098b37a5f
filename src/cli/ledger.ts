/**
 * `ocsuite ledger verify --tenant ID [--key K]` — recomputes every balance of
 *   the tenant's ledger from its transfers, checks them against the stored
 *   balances and entries, every transfer against the leaf that commits to it,
 *   and the tenant's transparency log from its leaves (docs/ledger.md).
 * `ocsuite ledger verify-proof --key K --proof F [--transfer ID] [--tenant ID]`
 *   — what a counterparty runs on the body of GET /api/v1/ledger/transfers/{id}/proof
 *   with nothing but the log's public verifier key: no database, no account.
 *
 * Exit status: 0 verified, 1 verification failed, 2 usage error.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/client.ts';
import { openDatabase } from '../db/open.ts';
import type { HistoryKey } from '../kernel/audit/key-history.ts';
import { storedKeyHistory, storedVerifierKey } from '../kernel/audit/verify-db.ts';
import { isUuid } from '../kernel/ids.ts';
import { parseVerifierKey } from '../kernel/translog/index.ts';
import { verifyTransferProof, type TransferProof } from '../modules/ledger/proof.ts';
import { verifyLedger } from '../modules/ledger/verify.ts';
import type { CliIo } from './access-log.ts';

const consoleIo: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) };
const USAGE = 'usage: ocsuite ledger verify --tenant ID [--key K] | verify-proof --key K --proof F [--transfer ID] [--tenant ID]';

const readInput = (path: string) => fs.readFileSync(path === '-' ? 0 : path, 'utf8');
/** A verifier key inline (`name+id+key`) or a file holding it. */
const keyOf = (value: string) => (fs.existsSync(value) || !value.includes('+') ? readInput(value).trim() : value.trim());

export async function ledgerCommand(
  loadConfig: () => Config,
  args: string[],
  io: CliIo = consoleIo,
  open: (config: Config) => Database | Promise<Database> = openDatabase,
): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: { tenant: { type: 'string' }, key: { type: 'string' }, proof: { type: 'string' }, transfer: { type: 'string' } } });
  if (sub === 'verify-proof') {
    if (!values.key || !values.proof) {
      io.err(USAGE);
      return 2;
    }
    try {
      const body = JSON.parse(readInput(values.proof)) as TransferProof;
      const r = verifyTransferProof(body, keyOf(values.key), { ...(values.transfer ? { transferId: values.transfer } : {}), ...(values.tenant ? { tenantId: values.tenant } : {}) });
      io.out(`OK transfer ${body.transfer.id} (${body.transfer.kind} ${body.transfer.amount} ${body.transfer.asset}) is leaf ${r.index} of ${r.origin} size ${r.size}`);
      return 0;
    } catch (err) {
      io.err(`FAILED verify-proof: ${(err as Error).message}`);
      return 1;
    }
  }
  if (sub !== 'verify' || !values.tenant || !isUuid(values.tenant)) {
    io.err(USAGE);
    return 2;
  }
  let key: string | HistoryKey[] | undefined = values.key ? keyOf(values.key) : undefined;
  if (key) parseVerifierKey(key);
  const config = loadConfig();
  const db = await open(config);
  try {
    if (!key) {
      // Every key of the database's history (a rotation leaves older checkpoints under the old key).
      const history = await storedKeyHistory(db, config.statementTimeoutMs, values.tenant.toLowerCase());
      key = history.length > 1 ? history : await storedVerifierKey(db, config.statementTimeoutMs);
      io.err('note: using the verifier key stored in this database; pass --key to check against a key you trust');
    }
    const r = await verifyLedger(db, config.statementTimeoutMs, values.tenant.toLowerCase(), key);
    if (r.ok) {
      io.out(`OK ledger of ${values.tenant}: ${r.accounts} account(s), ${r.transfers} transfer(s); balances recomputed from transfers, every transfer matches its leaf; log of ${r.log.size} leaves verifies`);
      return 0;
    }
    io.err(`FAILED ledger of ${values.tenant}: ${r.findings.length} finding(s)`);
    for (const f of r.findings) io.err(`  ${f.kind}: ${f.detail}`);
    return 1;
  } finally {
    await db.close();
  }
}

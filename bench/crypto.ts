// node bench/crypto.ts — the secrets vault against same-run baselines (DESIGN.md §7):
//  1. seal/open throughput vs raw node:crypto AES-256-GCM on the same payloads (target ratio ≥ 0.8);
//  2. tenant data-key rotation (re-encryption) rows/s vs a plain UPDATE of the same rows (target ≥ 0.5);
//  3. master-key rotation time for 10,000 tenants (with a plain UPDATE of the same rows for scale).
// Set DATABASE_URL to measure 2 and 3 on PostgreSQL (a database of its own, dropped afterwards).
// Writes the `crypto` section of bench/results.json. Never a test: a slow machine reports, it does not fail.
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { sql } from 'drizzle-orm';
import { openPg, openPglite, type Database } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { withOwner } from '../src/db/transaction.ts';
import { Keyring, generateDataKey, importAeadKey, openValue, sealValue, wrapDataKey, type SealedContext } from '../src/kernel/crypto/index.ts';
import { openWithWrappedKey } from '../src/kernel/crypto/tenant-keys.ts';
import { rotateMasterKey, rotateTenantKey, type RotationOptions } from '../src/kernel/crypto/rotation.ts';
import { scratchDatabase } from './support.ts';

const profile = process.env.DATABASE_URL ? 'postgres' : 'embedded';
const ROWS = Number(process.env.BENCH_CRYPTO_ROWS ?? 5_000);
const TENANTS = Number(process.env.BENCH_CRYPTO_TENANTS ?? 10_000);
const BATCH = Number(process.env.BENCH_CRYPTO_BATCH ?? 500);
const rounds = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

// ─── 1. seal/open vs raw AES-256-GCM ────────────────────────────────────────

/** The baseline: what any AES-256-GCM user writes with node:crypto — fresh nonce, AAD, tag, one buffer out. */
function rawSeal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  c.setAAD(aad);
  return Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
}
function rawOpen(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12), { authTagLength: 16 });
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
}

function opsPerSecond(fn: () => unknown, minMs = 400): number {
  for (let i = 0; i < 2_000; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed * 1000 < minMs) {
    for (let i = 0; i < 1_000; i++) fn();
    n += 1_000;
    elapsed = seconds(start);
  }
  return n / elapsed;
}

function sealOpenBench() {
  const key = generateDataKey();
  const ctx: SealedContext = { tenantId: randomUUID(), table: 'connectors', column: 'secret_sealed', rowId: randomUUID(), dataKeyVersion: 3 };
  // The raw baseline authenticates an AAD of the same information (tenant|table|column|row|version).
  const aad = Buffer.from(`${ctx.tenantId}|${ctx.table}|${ctx.column}|${ctx.rowId}|${ctx.dataKeyVersion}`);
  const keyring = new Keyring([{ id: 'm1', key: randomBytes(32) }], 'm1');
  const wrapped = wrapDataKey(keyring, { tenantId: ctx.tenantId, version: ctx.dataKeyVersion }, key);
  const cell = { tenantId: ctx.tenantId, table: ctx.table, column: ctx.column, rowId: ctx.rowId };
  const out: Record<string, unknown> = {};
  for (const size of [64, 512, 4096]) {
    const text = randomBytes(size).toString('base64url').slice(0, size);
    const bytes = Buffer.from(text);
    const token = sealValue(key, ctx, bytes);
    const rawSealed = rawSeal(key, bytes, aad);
    const sealRatios: number[] = [];
    const openRatios: number[] = [];
    const tenantOpenRatios: number[] = [];
    let last = { seal: 0, rawSeal: 0, open: 0, rawOpen: 0, tenantOpen: 0 };
    for (let r = 0; r < rounds; r++) {
      // Alternate so drift (CPU boost, GC) hits both sides alike.
      const raw = opsPerSecond(() => rawSeal(key, bytes, aad));
      const ours = opsPerSecond(() => sealValue(key, ctx, bytes));
      const rawO = opsPerSecond(() => rawOpen(key, rawSealed, aad));
      const oursO = opsPerSecond(() => openValue(key, ctx, token));
      // What a module's read pays once the data key is cached: the wrapped key as read beside the value,
      // its unwrap served by kernel/crypto/data-key-cache.ts (retirement checked), openValue with the imported key.
      const tenantO = opsPerSecond(() => openWithWrappedKey(keyring, cell, token, wrapped));
      sealRatios.push(ours / raw);
      openRatios.push(oursO / rawO);
      tenantOpenRatios.push(tenantO / rawO);
      last = { seal: ours, rawSeal: raw, open: oursO, rawOpen: rawO, tenantOpen: tenantO };
    }
    out[`${size}B`] = {
      sealPerSec: Math.round(last.seal), rawSealPerSec: Math.round(last.rawSeal), sealRatio: round(median(sealRatios)),
      openPerSec: Math.round(last.open), rawOpenPerSec: Math.round(last.rawOpen), openRatio: round(median(openRatios)),
      openCachedKeyPerSec: Math.round(last.tenantOpen), openCachedKeyRatio: round(median(tenantOpenRatios)),
      target: 0.8, openTarget: 0.9,
    };
  }
  return out;
}

// ─── Database fixtures ──────────────────────────────────────────────────────

async function benchDatabase(): Promise<{ db: Database; drop: () => Promise<void> }> {
  if (!process.env.DATABASE_URL) return { db: await openPglite(undefined), drop: async () => {} };
  const scratch = await scratchDatabase(process.env.DATABASE_URL, 'crypto');
  const db = openPg(scratch.url, 4);
  return {
    db,
    drop: async () => {
      await db.close();
      await scratch.drop();
    },
  };
}

const masterKey = (id: string) => ({ id, key: randomBytes(32) });
// One m1 for the whole run: every fixture's data keys are wrapped under it.
const m1 = masterKey('m1');
const owner = <T>(db: Database, fn: Parameters<typeof withOwner<T>>[1]) => withOwner(db, fn);

/** One tenant with `rows` connectors sealed under data key v1. */
async function tenantWithRows(db: Database, keyring: Keyring, rows: number): Promise<{ tenantId: string; ids: string[] }> {
  const [tenant] = await owner(db, (tx) => tx.query<{ id: string }>(sql`INSERT INTO tenants (name) VALUES ('bench') RETURNING id`));
  const tenantId = tenant!.id;
  const dataKey = generateDataKey();
  await owner(db, (tx) => tx.query(sql`INSERT INTO tenant_data_keys (tenant_id, version, wrapped_key) VALUES (${tenantId}, 1, ${wrapDataKey(keyring, { tenantId, version: 1 }, dataKey)})`));
  const ids = Array.from({ length: rows }, () => randomUUID());
  for (let i = 0; i < ids.length; i += 1_000) {
    const chunk = ids.slice(i, i + 1_000);
    const sealed = chunk.map((id) => sealValue(dataKey, { tenantId, table: 'connectors', column: 'secret_sealed', rowId: id, dataKeyVersion: 1 }, `sk_live_${randomBytes(24).toString('base64url')}`));
    await owner(db, (tx) => tx.query(sql`
      INSERT INTO connectors (tenant_id, id, name, provider, kind, secret_sealed, secret_fingerprint, secret_last_four)
      SELECT ${tenantId}, id, 'bench', 'hubspot', 'api_key', s, 'sha256:0000000000000000', ''
      FROM unnest(${sql.param(chunk)}::uuid[], ${sql.param(sealed)}::text[]) AS x(id, s)`));
  }
  // Statistics as autovacuum would have them: both sides then get the planner's normal plan.
  await owner(db, (tx) => tx.query(sql`ANALYZE connectors`));
  return { tenantId, ids };
}

/**
 * Baseline for re-encryption: the same rows rewritten with new (precomputed)
 * values by plain UPDATEs in transactions of the same batch size — the least
 * any re-encryption must cost the database.
 */
async function plainUpdate(db: Database, tenantId: string, ids: string[]): Promise<number> {
  const values = ids.map(() => `osv1.9.${randomBytes(60).toString('base64url')}`);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ids.length; i += BATCH) {
    await owner(db, (tx) => tx.query(sql`
      UPDATE connectors AS x SET secret_sealed = v.next
      FROM unnest(${sql.param(ids.slice(i, i + BATCH))}::uuid[], ${sql.param(values.slice(i, i + BATCH))}::text[]) AS v(id, next)
      WHERE x.tenant_id = ${tenantId} AND x.id = v.id`));
  }
  return seconds(start);
}

async function reencryptionBench(db: Database) {
  const keyring = new Keyring([m1], 'm1');
  const base: Omit<RotationOptions, 'keyring'> = { db, statementTimeoutMs: 600_000, actor: { type: 'operator', id: 'bench' }, batchSize: BATCH };
  const ratios: number[] = [];
  let last = { rows: 0, rotationSeconds: 0, plainSeconds: 0 };
  // One unmeasured round of each first, so neither side is timed while the JIT warms up.
  const warm = await tenantWithRows(db, keyring, ROWS);
  await plainUpdate(db, warm.tenantId, warm.ids);
  await rotateTenantKey({ ...base, keyring }, (await tenantWithRows(db, keyring, ROWS)).tenantId);
  for (let r = 0; r < rounds; r++) {
    const plainTenant = await tenantWithRows(db, keyring, ROWS);
    const plainSeconds = await plainUpdate(db, plainTenant.tenantId, plainTenant.ids);
    const rotated = await tenantWithRows(db, keyring, ROWS);
    const start = process.hrtime.bigint();
    const report = await rotateTenantKey({ ...base, keyring }, rotated.tenantId);
    const rotationSeconds = seconds(start);
    if (report.status !== 'rotated' || report.reencrypted !== ROWS || report.verified !== ROWS) throw new Error(`rotation did not complete: ${JSON.stringify({ ...report, problems: report.problems.length })}`);
    ratios.push(plainSeconds / rotationSeconds);
    last = { rows: ROWS, rotationSeconds, plainSeconds };
  }
  // The ceiling: the three AES-GCM operations a re-encrypted row costs, with no database at all.
  const dk1 = importAeadKey(generateDataKey());
  const dk2 = importAeadKey(generateDataKey());
  const cells = Array.from({ length: ROWS }, () => ({ tenantId: randomUUID(), table: 'connectors', column: 'secret_sealed', rowId: randomUUID() }));
  const olds = cells.map((c) => sealValue(dk1, { ...c, dataKeyVersion: 1 }, `sk_live_${randomBytes(24).toString('base64url')}`));
  const cryptoStart = process.hrtime.bigint();
  cells.forEach((c, i) => {
    const next = sealValue(dk2, { ...c, dataKeyVersion: 2 }, openValue(dk1, { ...c, dataKeyVersion: 1 }, olds[i]!));
    openValue(dk2, { ...c, dataKeyVersion: 2 }, next);
  });
  const cryptoOnlyRowsPerSec = Math.round(ROWS / seconds(cryptoStart));
  return {
    rows: last.rows,
    batchSize: BATCH,
    cryptoOnlyRowsPerSec,
    rotationRowsPerSec: Math.round(last.rows / last.rotationSeconds),
    plainUpdateRowsPerSec: Math.round(last.rows / last.plainSeconds),
    ratio: round(median(ratios)),
    ratiosPerRound: ratios.map((x) => round(x)),
    note: 'rotation = switch key; per batch read, open, re-seal, compare-and-swap, open what was stored (3 AES-GCM operations per row); destroy the old version. Baseline = UPDATE … FROM unnest() of precomputed values, same batch size',
    target: 0.5,
  };
}

async function masterRotationBench(db: Database) {
  const m2 = masterKey('m2');
  const before = new Keyring([m1], 'm1');
  const tenants = await owner(db, (tx) => tx.query<{ id: string }>(sql`
    INSERT INTO tenants (name) SELECT 'bench ' || g FROM generate_series(1, ${TENANTS}::int) g RETURNING id`));
  for (let i = 0; i < tenants.length; i += 2_000) {
    const chunk = tenants.slice(i, i + 2_000).map((t) => t.id);
    const wrapped = chunk.map((tenantId) => wrapDataKey(before, { tenantId, version: 1 }, generateDataKey()));
    await owner(db, (tx) => tx.query(sql`
      INSERT INTO tenant_data_keys (tenant_id, version, wrapped_key) SELECT t, 1, w FROM unnest(${sql.param(chunk)}::uuid[], ${sql.param(wrapped)}::text[]) AS x(t, w)`));
  }
  const after = new Keyring([m1, m2], 'm2');
  const start = process.hrtime.bigint();
  const report = await rotateMasterKey({ db, keyring: after, statementTimeoutMs: 600_000, actor: { type: 'operator', id: 'bench' }, batchSize: BATCH });
  const rotationSeconds = seconds(start);
  if (!report.ok || report.rewrappedDataKeys < TENANTS) throw new Error(`master rotation did not complete: ${report.problems.length} problem(s)`);
  // Scale: the same rows rewritten by plain UPDATEs in batches of the same size.
  const values = tenants.map(() => `okw1.m9.${randomBytes(60).toString('base64url')}`);
  const plainStart = process.hrtime.bigint();
  for (let i = 0; i < tenants.length; i += BATCH) {
    await owner(db, (tx) => tx.query(sql`
      UPDATE tenant_data_keys AS k SET wrapped_key = v.next
      FROM unnest(${sql.param(tenants.slice(i, i + BATCH).map((t) => t.id))}::uuid[], ${sql.param(values.slice(i, i + BATCH))}::text[]) AS v(t, next)
      WHERE k.tenant_id = v.t AND k.version = 1`));
  }
  const plainSeconds = seconds(plainStart);
  return {
    tenants: TENANTS,
    batchSize: BATCH,
    rotationSeconds: round(rotationSeconds, 2),
    dataKeysPerSec: Math.round(report.rewrappedDataKeys / rotationSeconds),
    plainUpdateSeconds: round(plainSeconds, 2),
    ratio: round(plainSeconds / rotationSeconds),
    note: 'rotation = per batch read, unwrap + wrap, compare-and-swap, unwrap what was stored; reseal platform secrets. Baseline = UPDATE … FROM unnest() of precomputed values, same batch size',
  };
}

// ─── Run ────────────────────────────────────────────────────────────────────

const results: Record<string, unknown> = { profile, node: process.version, at: new Date().toISOString() };
results.sealOpen = sealOpenBench();
// BENCH_CRYPTO_PARTS=seal measures seal/open alone (no database).
if (process.env.BENCH_CRYPTO_PARTS !== 'seal') {
  const { db, drop } = await benchDatabase();
  try {
    await migrate(db);
    results.tenantReencryption = await reencryptionBench(db);
    results.masterRotation = await masterRotationBench(db);
  } finally {
    await (process.env.DATABASE_URL ? drop() : db.close());
  }
}

console.log(`\nOC-Suite crypto bench (${profile}, ${process.version})`);
for (const [size, r] of Object.entries(results.sealOpen as Record<string, Record<string, number>>)) {
  console.log(`sealValue ${size.padStart(5)}  ${r.sealPerSec}/s vs raw AES-256-GCM ${r.rawSealPerSec}/s  ratio ${r.sealRatio}   `
    + `openValue ${r.openPerSec}/s vs raw ${r.rawOpenPerSec}/s  ratio ${r.openRatio}   (target ≥ 0.8)   `
    + `open with the cached data key ${r.openCachedKeyPerSec}/s  ratio ${r.openCachedKeyRatio} (target ≥ 0.9)`);
}
const re = results.tenantReencryption as Record<string, number> | undefined;
if (re) console.log(`tenant re-encryption  ${re.rotationRowsPerSec} rows/s vs plain UPDATE ${re.plainUpdateRowsPerSec} rows/s  median ratio ${re.ratio} of ${rounds} rounds, ${re.rows} rows (target ≥ 0.5)`);
if (re) console.log(`  ceiling: open + seal + verify alone, no database  ${re.cryptoOnlyRowsPerSec} rows/s (${round(re.cryptoOnlyRowsPerSec! / re.plainUpdateRowsPerSec!)} of the plain UPDATE)`);
const mr = results.masterRotation as Record<string, number> | undefined;
if (mr) console.log(`master rotation       ${mr.tenants} tenants in ${mr.rotationSeconds} s (${mr.dataKeysPerSec} keys/s); plain UPDATE of the same rows ${mr.plainUpdateSeconds} s  ratio ${mr.ratio}`);

const file = 'bench/results.json';
const all = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
all.crypto = { ...(all.crypto ?? {}), [profile]: { ...(all.crypto?.[profile] ?? {}), ...results } };
fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
console.log(`written ${file} (crypto.${profile})`);

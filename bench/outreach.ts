// npm run bench (or: node bench/outreach.ts) — outreach sends (issue #15): messages/s of a campaign
// through the platform (send rows, claim + suppression check + rate budget per batch, the delivery
// job, one outcome transaction and audit event per message, RFC 8058 headers) to a local SMTP server
// (smtp-server), against nodemailer alone sending the same number of messages to the same server with
// the same transport settings (one pooled connection), one after another as a delivery run does. Alternating rounds, medians.
// Writes the `outreach` section of bench/results.json. Never a test: a slow machine reports a ratio.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { bootPlatform, shutdownPlatform } from '../src/boot.ts';
import { loadConfig } from '../src/config/config.ts';
import { openPg, openPglite } from '../src/db/client.ts';
import { buildServer } from '../src/server.ts';
import { scratchDatabase } from './support.ts';

const N = Number(process.env.BENCH_OUTREACH_SENDS ?? 200);
const ROUNDS = Number(process.env.BENCH_OUTREACH_ROUNDS ?? 3);
const profile = process.env.DATABASE_URL ? 'postgres' : 'embedded';

let accepted = 0;
const smtp = new SMTPServer({
  authOptional: true, disabledCommands: ['STARTTLS'], logger: false, disableReverseLookup: true,
  onData(stream, _s, done) {
    stream.on('data', () => {});
    stream.on('end', () => {
      accepted++;
      done();
    });
  },
});
await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
const smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;

const config = loadConfig({
  ...process.env,
  OCSUITE_MASTER_KEYS: `b1:${randomBytes(32).toString('base64')}`,
  OCSUITE_RATE_LIMIT: '1000000',
  OCSUITE_TENANT_RATE_LIMIT: '1000000', OCSUITE_USER_RATE_LIMIT: '1000000', OCSUITE_WRITE_RATE_LIMIT: '1000000', OCSUITE_EXPENSIVE_RATE_LIMIT: '1000000',
  OCSUITE_AUTH_RATE_LIMIT: '1000000',
  OCSUITE_ACCESS_LOG: 'false',
  SMTP_URL: smtpUrl,
  PUBLIC_URL: 'https://bench.example',
  LOG_LEVEL: 'warn',
  NODE_ENV: 'development',
});
let dropDb: (() => Promise<void>) | undefined;
let dbUrl: string | undefined;
let db;
if (config.databaseUrl) {
  const scratch = await scratchDatabase(config.databaseUrl, 'outreach');
  dbUrl = scratch.url;
  db = openPg(dbUrl, 10);
  dropDb = scratch.drop;
} else {
  db = await openPglite(undefined);
}
const quiet = new Writable({ write: (_c, _e, done) => done() });
const platform = await bootPlatform(config, { db, jobsConnectionString: dbUrl, workers: true, logDestination: quiet, jobsTuning: { pollingIntervalSeconds: 0.5 } });
const app = await buildServer(platform);
const call = async (method: 'POST' | 'PATCH' | 'GET', url: string, token: string, payload?: object) => {
  const res = await app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return res.json();
};
const signup = await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'Bench', email: 'bench-outreach@example.com', password: 'correct horse battery staple 42' } });
const token = signup.json().accessToken as string;
await call('PATCH', '/outreach/settings', token, { postalAddress: '1 Bench Street, Benchtown', ratePerMinute: 100_000 });
for (let i = 0; i < N; i++) await call('POST', '/outreach/contacts', token, { email: `r${i}@bench.example`, source: 'bench', lawfulBasis: 'legitimate_interest' });

async function platformRound(round: number): Promise<number> {
  const campaign = await call('POST', '/outreach/campaigns', token, { name: `bench ${round}`, subject: 'Bench', bodyText: 'x'.repeat(1000) });
  const before = accepted;
  const started = performance.now();
  await call('POST', `/outreach/campaigns/${campaign.id}/send`, token);
  for (;;) {
    const c = await call('GET', `/outreach/campaigns/${campaign.id}`, token);
    if (c.status === 'sent') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  if (accepted - before !== N) throw new Error(`expected ${N} messages, the server accepted ${accepted - before}`);
  return N / seconds;
}

async function nodemailerRound(): Promise<number> {
  // What a delivery run uses: one pooled connection, messages one after another.
  const transport = nodemailer.createTransport({ url: smtpUrl, pool: true, maxConnections: 1 } as never);
  const started = performance.now();
  for (let i = 0; i < N; i++) {
    await transport.sendMail({
      from: 'bench@bench.example', to: `r${i}@bench.example`, subject: 'Bench', text: 'x'.repeat(1000),
      headers: { 'List-Unsubscribe': '<https://bench.example/u/x>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    });
  }
  transport.close();
  return N / ((performance.now() - started) / 1000);
}

const bare: number[] = [];
const ours: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  bare.push(await nodemailerRound());
  ours.push(await platformRound(i));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ratios = ours.map((o, i) => o / bare[i]!);
const results = {
  profile, node: process.version, sendsPerRound: N, rounds: ROUNDS, at: new Date().toISOString(),
  nodemailerPerSec: Math.round(median(bare)),
  platformPerSec: Math.round(median(ours)),
  ratio: +median(ratios).toFixed(3),
  ratiosPerRound: ratios.map((r) => +r.toFixed(3)),
};

await app.close();
await shutdownPlatform(platform);
await dropDb?.();
await new Promise<void>((r) => smtp.close(() => r()));

console.log(`\nOC-Suite outreach bench (${profile}, ${process.version}, ${N} sends per round, ${ROUNDS} alternating rounds)`);
console.log(`campaign through the queue ${results.platformPerSec} msg/s   nodemailer alone ${results.nodemailerPerSec} msg/s   median ratio ${results.ratio}`);
const file = 'bench/results.json';
const all = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
all.outreach = { ...(all.outreach ?? {}), [profile]: results };
fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
console.log(`written ${file} (outreach.${profile})`);

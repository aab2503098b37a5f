// node bench/redact.ts — kernel/redact throughput (issue #15) against a plain regex pass over the same
// texts, measured in the same run: MB/s of `maskText` (every secret and PII rule, libphonenumber,
// checksums) and of a baseline that only replaces emails and `sk-`/`ghp_` keys with one regex each.
// Texts of 1 KB and 100 KB of mixed prose with secrets and personal data sprinkled in (phone numbers and
// keys vary, so the memo of phone-number verdicts does not flatter the figure).
// Writes the `redact` section of bench/results.json. Never a test: a slow machine reports, it does not fail.
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { maskText } from '../src/kernel/redact/index.ts';

const prose = 'The quarterly review covered the roadmap, the hiring plan and the migration of the billing service. ';
const sprinkles = () => [
  `Contact jane.${randomBytes(3).toString('hex')}@example.com or +44 20 7946 ${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}.`,
  `The key sk-proj-${randomBytes(24).toString('base64url')} was rotated.`,
  'Refund to DE89 3704 0044 0532 0130 00, card 4111 1111 1111 1111.',
  `Token ghp_${randomBytes(27).toString('hex').slice(0, 36)} leaked in ticket 48213.`,
  'Order 2024-11-30 #99812 shipped; version 1.2.3 deployed.',
];

function text(size: number): string {
  let out = '';
  let i = 0;
  while (out.length < size) {
    out += prose;
    if (i++ % 3 === 0) out += `${sprinkles()[i % 5]} `;
  }
  return out.slice(0, size);
}

const baseline = [/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, /\b(?:sk-|ghp_)[A-Za-z0-9_-]{20,}/g];
const plainPass = (t: string) => baseline.reduce((acc, re) => acc.replace(re, '[redacted]'), t);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
function mbPerSec(fn: (t: string) => string, input: string, iterations: number): number {
  for (let i = 0; i < Math.min(20, iterations); i++) fn(input); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn(input);
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    runs.push((input.length * iterations) / 1e6 / s);
  }
  return median(runs);
}

const sizes = { '1KB': [1024, Number(process.env.BENCH_REDACT_SMALL ?? 2000)], '100KB': [100 * 1024, Number(process.env.BENCH_REDACT_LARGE ?? 20)] } as const;
const results: Record<string, unknown> = { at: new Date().toISOString(), node: process.version };
console.log('\nRedaction throughput (maskText vs a plain two-regex pass, same texts)');
for (const [label, [size, iterations]] of Object.entries(sizes)) {
  const input = text(size);
  const full = mbPerSec((t) => maskText(t), input, iterations);
  const plain = mbPerSec(plainPass, input, iterations);
  results[label] = { redactMBps: +full.toFixed(2), plainRegexMBps: +plain.toFixed(2), ratio: +(full / plain).toFixed(3), iterations };
  console.log(`  ${label.padEnd(6)} redact ${full.toFixed(2)} MB/s vs plain regex ${plain.toFixed(2)} MB/s   ratio ${(full / plain).toFixed(3)}`);
}

const file = 'bench/results.json';
const all = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
all.redact = results;
fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);

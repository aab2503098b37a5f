import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Issue #17 item 3: every alert rule of docs/observability/alerts.yml is unit
 * tested by `promtool test rules` (Debian's prometheus package; .ci/run installs
 * it) against recorded series in alerts.test.yml, firing and not firing.
 */
const dir = fileURLToPath(new URL('../../docs/observability/', import.meta.url));
const rules = readFileSync(`${dir}alerts.yml`, 'utf8');
const tests = readFileSync(`${dir}alerts.test.yml`, 'utf8');

function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('promtool is not installed: `apt-get install prometheus` (.ci/run does)');
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

describe('alert rules', () => {
  it('are valid rules (promtool check rules)', () => {
    expect(promtool('check', 'rules', 'alerts.yml')).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('pass their unit tests (promtool test rules)', () => {
    expect(promtool('test', 'rules', 'alerts.test.yml')).toContain('SUCCESS');
  });

  it('each rule has a test case in which it fires', () => {
    const alerts = [...rules.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]!);
    expect(alerts).toEqual(expect.arrayContaining(['OcsuiteAuthFailureSpike', 'OcsuiteHttp5xxRatioHigh', 'OcsuiteJobBacklogGrowing', 'OcsuiteJobFailureSpike',
      'OcsuiteTenantDataKeyTooOld', 'OcsuiteAuditCheckpointLag', 'OcsuiteWebhookEndpointDisabled']));
    // A case that expects the alert: its alertname line followed by exp_alerts with an entry.
    const firing = new Set([...tests.matchAll(/alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels/g)].map((m) => m[1]!));
    expect(alerts.filter((a) => !firing.has(a))).toEqual([]);
  });

  it('a broken expectation is reported as a failure (the test of the tests)', () => {
    const broken = tests
      .replace('eval_time: 25m\n        alertname: OcsuiteAuditCheckpointLag', 'eval_time: 5m\n        alertname: OcsuiteAuditCheckpointLag')
      .replace('rule_files: [alerts.yml]', `rule_files: [${dir}alerts.yml]`);
    expect(broken).not.toBe(tests);
    const file = path.join(tmpdir(), `ocsuite-alerts-broken-${process.pid}.test.yml`);
    try {
      writeFileSync(file, broken);
      expect(() => promtool('test', 'rules', file)).toThrow(/OcsuiteAuditCheckpointLag/);
    } finally {
      rmSync(file, { force: true });
    }
  });
});

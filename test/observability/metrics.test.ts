import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { startReceiver } from '../webhooks/receiver.ts';

/**
 * Issue #17 item 3: /metrics needs the operator token, carries the series the
 * alert rules read (HTTP by route template, auth failures, rate-limit hits, DB
 * pool, queues, key ages, checkpoint lag, webhook failures), and no label
 * carries an id, an address or a raw URL.
 */
const operatorToken = randomBytes(32).toString('base64url');
let t: TestApp;
let owner: Account;
let scrape: string;

const metric = (text: string, name: string, labels: Record<string, string> = {}) => {
  const lines = text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  const hit = lines.find((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return hit === undefined ? undefined : Number(hit.slice(hit.lastIndexOf(' ') + 1));
};

beforeAll(async () => {
  t = await startApp({
    OCSUITE_OPERATOR_TOKEN: operatorToken,
    OCSUITE_AUTH_RATE_LIMIT: '4',
    OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.1/32',
    OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1',
    OCSUITE_WEBHOOK_RETRY_SCHEDULE: '0',
    OCSUITE_WEBHOOK_DISABLE_AFTER: '1',
  });
  owner = await signup(t.app, 'Metrics Tenant');
  // Failed logins (401), then the auth budget runs out (429).
  for (let i = 0; i < 6; i++) {
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: `wrong-${i}-password`, tenant: owner.tenantId } });
  }
  await t.app.inject({ method: 'GET', url: `/api/v1/webhooks/endpoints/${owner.tenantId}`, headers: { authorization: 'Bearer not-a-token' } });
  // A receiver that always fails: with one scheduled attempt and disable-after 1, the delivery dies and the endpoint is disabled.
  const rx = await startReceiver();
  try {
    rx.alwaysAnswer('/down', 500);
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/webhooks/endpoints', headers: bearer(owner), payload: { url: rx.url('/down'), eventTypes: ['webhooks.test'] } });
    expect(created.statusCode).toBe(201);
    const sent = await t.app.inject({ method: 'POST', url: `/api/v1/webhooks/endpoints/${json(created).id}/test`, headers: bearer(owner) });
    expect(sent.statusCode).toBe(202);
    await rx.waitFor('/down', 1);
  } finally {
    await rx.close();
  }
  // The attempt is counted once its outcome is recorded, after the receiver answered; the job's own attempt after that.
  const deadline = Date.now() + 20_000;
  do {
    scrape = (await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${operatorToken}` } })).body;
    if (metric(scrape, 'ocsuite_webhook_endpoints_disabled_total') === 1
      && (metric(scrape, 'ocsuite_jobs_attempts_total', { queue: 'webhooks.deliver', result: 'completed' }) ?? 0) >= 1) break;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < deadline);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('/metrics', () => {
  it('answers only the operator token: none, a wrong one, a tenant user\'s access token are refused', async () => {
    const none = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(none.statusCode).toBe(401);
    expect(none.body).not.toContain('ocsuite_');
    for (const authorization of [`Bearer ${operatorToken.slice(0, -1)}x`, `Bearer ${owner.accessToken}`, `Basic ${Buffer.from(`x:${operatorToken}`).toString('base64')}`, operatorToken]) {
      const res = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization } });
      expect([401, 403], authorization.slice(0, 12)).toContain(res.statusCode);
      expect(res.body).not.toContain('ocsuite_');
    }
    const ok = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${operatorToken}` } });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('counts requests by route template, auth failures by code and rate-limit hits', () => {
    expect(metric(scrape, 'ocsuite_http_request_duration_seconds_count', { route: '/api/v1/auth/signup', status: '201' })).toBe(1);
    expect(metric(scrape, 'ocsuite_auth_failures_total', { route: '/api/v1/auth/login', status: '401' })).toBeGreaterThanOrEqual(3);
    expect(metric(scrape, 'ocsuite_auth_failures_total', { route: '/api/v1/webhooks/endpoints/:id', status: '401', code: 'OCS_UNAUTHENTICATED' })).toBe(1);
    expect(metric(scrape, 'ocsuite_rate_limited_total', { route: '/api/v1/auth/login' })).toBeGreaterThanOrEqual(1);
  });

  it('reports the DB pool, queues, key ages and the audit checkpoint lag', () => {
    expect(metric(scrape, 'ocsuite_db_pool_max')).toBeGreaterThanOrEqual(1);
    expect(metric(scrape, 'ocsuite_db_pool_connections', { state: 'total' })).toBeGreaterThanOrEqual(1);
    expect(metric(scrape, 'ocsuite_db_pool_waiting')).toBeGreaterThanOrEqual(0);
    expect(metric(scrape, 'ocsuite_jobs_waiting', { queue: 'webhooks.deliver' })).toBeGreaterThanOrEqual(0);
    expect(metric(scrape, 'ocsuite_jobs_attempts_total', { queue: 'webhooks.deliver', result: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(metric(scrape, 'ocsuite_jobs_failure_spikes_total', { queue: 'webhooks.deliver' })).toBe(0);
    expect(metric(scrape, 'ocsuite_tenant_data_key_oldest_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(metric(scrape, 'ocsuite_master_key_primary_age_seconds')).toBeGreaterThanOrEqual(0);
    // The signup and the failed logins were audited; no checkpoint was signed since (the schedule runs every 15 minutes).
    expect(metric(scrape, 'ocsuite_audit_checkpoint_lag_entries')).toBeGreaterThan(0);
    expect(metric(scrape, 'ocsuite_audit_checkpoint_lag_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('counts the dead webhook delivery and the endpoint it disabled', () => {
    expect(metric(scrape, 'ocsuite_webhook_attempts_total', { result: 'dead' })).toBe(1);
    expect(metric(scrape, 'ocsuite_webhook_attempts_total', { result: 'succeeded' })).toBe(0);
    expect(metric(scrape, 'ocsuite_webhook_endpoints_disabled_total')).toBe(1);
  });

  it('has a series for every metric an alert rule reads', () => {
    const rules = readFileSync(new URL('../../docs/observability/alerts.yml', import.meta.url), 'utf8');
    const exprs = rules.split('\n').filter((l) => !l.trim().startsWith('#') && !/^\s+(summary|runbook):/.test(l)).join('\n');
    const used = new Set(exprs.match(/\bocsuite_[a-z0-9_]+/g) ?? []);
    expect(used.size).toBeGreaterThan(15);
    const present = new Set(scrape.split('\n').filter((l) => l.startsWith('ocsuite_')).map((l) => l.split(/[{ ]/)[0]!));
    expect([...used].filter((m) => !present.has(m))).toEqual([]);
  });

  it('labels carry templates and codes, never ids, addresses or query strings', () => {
    const samples = scrape.split('\n').filter((l) => l.startsWith('ocsuite_'));
    for (const l of samples) {
      expect(l).not.toContain(owner.tenantId);
      expect(l).not.toContain(owner.userId);
      expect(l).not.toContain('@');
      expect(l).not.toContain('?');
    }
  });
});

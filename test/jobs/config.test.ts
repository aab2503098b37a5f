import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { ConfigError } from '../../src/config/errors.ts';

/** The job system's configuration: workers' placement, the Redis namespace, the signed alert webhook. */
const problemsOf = (env: Record<string, string>) => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

describe('jobs configuration', () => {
  it('runs workers inside serve unless Redis is configured, and lets the operator decide', () => {
    expect(loadConfig({}).inProcessWorkers).toBe(true);
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).inProcessWorkers).toBe(false);
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', OCSUITE_INPROCESS_WORKERS: 'true' }).inProcessWorkers).toBe(true);
    expect(problemsOf({ OCSUITE_INPROCESS_WORKERS: 'perhaps' })).toEqual(['OCSUITE_INPROCESS_WORKERS: expected true or false, got "perhaps"']);
  });

  it('accepts a key prefix of safe characters only', () => {
    expect(loadConfig({}).jobsPrefix).toBe('ocsuite');
    expect(loadConfig({ OCSUITE_JOBS_PREFIX: 'staging-eu.1' }).jobsPrefix).toBe('staging-eu.1');
    expect(problemsOf({ OCSUITE_JOBS_PREFIX: 'a:b*' })).toEqual(['OCSUITE_JOBS_PREFIX: letters, digits, _ . - only (at most 100)']);
  });

  it('refuses an alert webhook without a signing secret, or with a weak one', () => {
    const url = 'https://n8n.example.com/webhook/alerts/jobs';
    expect(problemsOf({ OCSUITE_ALERT_WEBHOOK_URL: url })).toEqual(['OCSUITE_ALERT_WEBHOOK_SECRET: required with OCSUITE_ALERT_WEBHOOK_URL (alerts are signed)']);
    expect(problemsOf({ OCSUITE_ALERT_WEBHOOK_URL: url, OCSUITE_ALERT_WEBHOOK_SECRET: 'whsec_short' })).toHaveLength(1);
    expect(problemsOf({ OCSUITE_ALERT_WEBHOOK_URL: 'ftp://x', OCSUITE_ALERT_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64')}` })).toEqual(['OCSUITE_ALERT_WEBHOOK_URL: protocol must be one of http:, https:']);
    const ok = loadConfig({ OCSUITE_ALERT_WEBHOOK_URL: url, OCSUITE_ALERT_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64')}` });
    expect(ok.alertWebhookUrl).toBe(url);
  });
});

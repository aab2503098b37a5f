import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { bearer, enableMfa, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/**
 * An export is an audited action, so a request that exports nothing must
 * record nothing: a filter the database refuses is a 400 before the event is
 * written, and HEAD is not an export.
 */
let t: TestApp;
let a: Account;
beforeAll(async () => {
  t = await startApp();
  a = await enableMfa(t.app, await signup(t.app, 'Export refusals'));
});
afterAll(() => t?.close());

const exports = () => withOwner(t.platform.db, (tx) => tx.query(sql`SELECT 1 FROM audit_events WHERE tenant_id = ${a.tenantId} AND action = 'audit.exported'`));

describe('audit export refusals', () => {
  it('a time offset PostgreSQL does not take is 400 problem+json on list and export, and records no export', async () => {
    for (const query of ['since=2020-01-01T00:00:00%2B23:00', 'until=2020-01-01T00:00:00-16:00', 'since=2020-01-01T00:00:00%2B23:00&format=csv']) {
      for (const url of [`/api/v1/audit-events?${query.replace('&format=csv', '')}`, `/api/v1/audit-events/export?${query}`]) {
        const res = await t.app.inject({ method: 'GET', url, headers: bearer(a) });
        expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
        expect(res.headers['content-type']).toContain('application/problem+json');
        expect(json(res).type).toBe('urn:ocsuite:problem:validation-failed');
      }
    }
    expect(await exports()).toEqual([]);
  });

  it('HEAD is not an export', async () => {
    const res = await t.app.inject({ method: 'HEAD', url: '/api/v1/audit-events/export', headers: bearer(a) });
    expect(res.statusCode).toBe(404);
    expect(await exports()).toEqual([]);
    const real = await t.app.inject({ method: 'GET', url: '/api/v1/audit-events/export', headers: bearer(a) });
    expect(real.statusCode).toBe(200);
    expect(await exports()).toHaveLength(1);
  });

  it('a forged keyset cursor with a timestamp PostgreSQL cannot hold is 400, not 500', async () => {
    const cursor = Buffer.from(JSON.stringify(['+275760-09-13T00:00:00Z', '6f1c2a3e-1b2c-4d5e-8f90-123456789abc'])).toString('base64url');
    for (const url of [`/api/v1/knowledge?cursor=${cursor}`, `/api/v1/connectors?cursor=${cursor}`]) {
      const res = await t.app.inject({ method: 'GET', url, headers: bearer(a) });
      expect(res.statusCode, url).toBe(400);
      expect(json(res).type).toBe('urn:ocsuite:problem:validation-failed');
    }
  });
});

import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootPlatform, shutdownPlatform } from '../../src/boot.ts';
import { loadConfig } from '../../src/config/config.ts';
import { ConfigError } from '../../src/config/errors.ts';
import type { Platform } from '../../src/kernel/platform.ts';
import { buildServer } from '../../src/server.ts';
import { bearer, enableMfa, json, signup, usingPostgres, type Account } from '../support/app.ts';
import { pgBinariesPresent, startReplicaPair, type ReplicaPair } from '../support/replica.ts';

/**
 * Issue #20 §4: DATABASE_READ_URL sends read-only work to a hot standby with the same RLS.
 * The standby is real: a primary and its streaming replica made by this file from the
 * machine's PostgreSQL binaries. Pausing the standby's replay makes "which server answered"
 * observable: what the primary has and the standby has not yet replayed.
 */
describe('DATABASE_READ_URL configuration', () => {
  it('needs DATABASE_URL: a standby of the embedded database does not exist', () => {
    expect(() => loadConfig({ DATABASE_READ_URL: 'postgres://db-replica/ocsuite' })).toThrow(ConfigError);
  });
  it('is optional: without it read-only work runs on the primary', () => {
    expect(loadConfig({}).readDatabaseUrl).toBeUndefined();
  });
});

// On the PostgreSQL profile of CI (the binaries are the machine's PostgreSQL 15).
if (usingPostgres && pgBinariesPresent) {
  describe('on a streaming hot standby', () => {
    let pair: ReplicaPair;
    let platform: Platform;
    let app: FastifyInstance;
    let primary: pg.Client;
    let standby: pg.Client;
    let a: Account;
    let b: Account;

    beforeAll(async () => {
      pair = await startReplicaPair();
      primary = new pg.Client({ connectionString: pair.adminPrimary });
      standby = new pg.Client({ connectionString: pair.adminStandby });
      await primary.connect();
      await standby.connect();
      const config = loadConfig({
        DATABASE_URL: pair.primaryUrl, DATABASE_READ_URL: pair.standbyUrl, OCSUITE_DB_POOL_MAX: '4', OCSUITE_DB_READ_POOL_MAX: '3',
        OCSUITE_MASTER_KEYS: `r1:${randomBytes(32).toString('base64')}`, PUBLIC_URL: 'http://ocsuite.test', LOG_LEVEL: 'warn',
        OCSUITE_DATA_DIR: `/tmp/ocsuite-replica-test-${process.pid}`, OCSUITE_RATE_LIMIT: '100000', OCSUITE_AUTH_RATE_LIMIT: '100000',
      });
      platform = await bootPlatform(config, { logDestination: new Writable({ write: (_c, _e, done) => done() }), workers: true });
      app = await buildServer(platform);
      // Exports need a recent second factor (step-up).
      a = await enableMfa(app, await signup(app, 'Replica A'));
      b = await enableMfa(app, await signup(app, 'Replica B'));
      await caughtUp();
    }, 120_000);

    afterAll(async () => {
      await standby?.query('SELECT pg_wal_replay_resume()').catch(() => {});
      await app?.close();
      if (platform) await shutdownPlatform(platform);
      await primary?.end().catch(() => {});
      await standby?.end().catch(() => {});
      pair?.stop();
    });

    /** Until the standby has replayed everything the primary has written so far. */
    async function caughtUp() {
      const lsn = (await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
      for (let i = 0; i < 200; i++) {
        const ok = (await standby.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn])).rows[0]!.ok;
        if (ok) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('the standby did not catch up');
    }
    /**
     * `read` until `done` holds (5 s at most): a commit the standby has replayed up to its LSN
     * can still take a moment to become visible to its snapshots after replay resumes.
     */
    async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
      let value = await read();
      for (let i = 0; i < 100 && !done(value); i++) {
        await new Promise((r) => setTimeout(r, 50));
        value = await read();
      }
      return value;
    }
    const paused = async <T>(fn: () => Promise<T>): Promise<T> => {
      await standby.query('SELECT pg_wal_replay_pause()');
      // The request takes effect asynchronously: wait until replay has really stopped.
      for (let i = 0; (await standby.query<{ s: string }>('SELECT pg_get_wal_replay_pause_state() AS s')).rows[0]!.s !== 'paused'; i++) {
        if (i > 200) throw new Error('the standby did not pause');
        await new Promise((r) => setTimeout(r, 20));
      }
      try {
        return await fn();
      } finally {
        await standby.query('SELECT pg_wal_replay_resume()');
      }
    };
    const events = async (who: Account) => json<{ items: Array<{ action: string; id: string }> }>(await app.inject({ method: 'GET', url: '/api/v1/audit-events?limit=200', headers: bearer(who) })).items;
    /** A write that leaves an audit event (`knowledge.deleted`); its status, 2xx when both steps passed. */
    const auditedWrite = async (who: Account, title: string) => {
      const created = await app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(who), payload: { title, body: 'on the primary' } });
      if (created.statusCode !== 201) return created.statusCode;
      return (await app.inject({ method: 'DELETE', url: `/api/v1/knowledge/${json(created).id}`, headers: bearer(who) })).statusCode;
    };

    it('really is a standby: it refuses writes, even through the platform', async () => {
      expect((await standby.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r).toBe(true);
      await expect(platform.withTenantRead({ tenantId: a.tenantId }, (tx) => tx.query(sql`DELETE FROM knowledge_entries`))).rejects.toThrow(/read-only/);
    });

    it('audit search is served by the standby; writes keep going to the primary', async () => {
      const before = (await events(a)).length;
      await paused(async () => {
        expect(await auditedWrite(a, 'while the standby is paused')).toBeLessThan(300);
        // The primary has the new event, the search (on the standby) not yet.
        const onPrimary = await platform.withTenant({ tenantId: a.tenantId }, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM audit_events WHERE action = 'knowledge.deleted'`));
        expect(onPrimary[0]!.n).toBe(1);
        expect((await events(a)).filter((e) => e.action === 'knowledge.deleted')).toHaveLength(0);
        expect((await events(a)).length).toBe(before);
      });
      await caughtUp();
      const deleted = await eventually(async () => (await events(a)).filter((e) => e.action === 'knowledge.deleted'), (xs) => xs.length > 0);
      expect(deleted).toHaveLength(1);
    });

    it('has the same RLS: a tenant sees only its own rows there, and no tenant sees none', async () => {
      const seen = await events(b);
      const ids = new Set((await events(a)).map((e) => e.id));
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.some((e) => ids.has(e.id))).toBe(false);
      const rows = await platform.withTenantRead({ tenantId: b.tenantId }, (tx) => tx.query<{ n: number; other: number }>(sql`
        SELECT count(*)::int AS n, count(*) FILTER (WHERE tenant_id <> ${b.tenantId})::int AS other FROM audit_events`));
      expect(rows[0]).toMatchObject({ other: 0 });
      expect(rows[0]!.n).toBeGreaterThan(0);
      // Another tenant's id in the context shows that tenant's rows only; an unknown one none.
      const none = await platform.withTenantRead({ tenantId: randomUUID() }, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM audit_events`));
      expect(none[0]!.n).toBe(0);
    });

    it('ledger history reads the standby; a transfer by id (read-your-writes) the primary', async () => {
      const account = async (code: string) => json(await app.inject({ method: 'POST', url: '/api/v1/ledger/accounts', headers: bearer(a), payload: { code, name: code, asset: 'EUR' } })).id as string;
      const debit = await account('cash');
      const credit = await account('revenue');
      await caughtUp();
      await paused(async () => {
        const id = randomUUID();
        const posted = await app.inject({ method: 'POST', url: '/api/v1/ledger/transfers', headers: bearer(a), payload: { id, debitAccountId: debit, creditAccountId: credit, amount: '1250' } });
        expect(posted.statusCode).toBe(201);
        expect((await app.inject({ method: 'GET', url: `/api/v1/ledger/transfers/${id}`, headers: bearer(a) })).statusCode).toBe(200);
        const history = json(await app.inject({ method: 'GET', url: '/api/v1/ledger/transfers', headers: bearer(a) }));
        expect(history.items).toHaveLength(0);
      });
      await caughtUp();
      const history = await eventually(async () => json(await app.inject({ method: 'GET', url: '/api/v1/ledger/transfers', headers: bearer(a) })).items as unknown[], (xs) => xs.length > 0);
      expect(history).toHaveLength(1);
    });

    it('an export never comes out shorter than the size it recorded, even with the standby behind', async () => {
      await caughtUp();
      const res = await paused(async () => {
        // Events only the primary has: the export must include them (it waits, then reads the primary).
        for (let i = 0; i < 3; i++) expect(await auditedWrite(a, `export ${i}`)).toBeLessThan(300);
        return app.inject({ method: 'GET', url: '/api/v1/audit-events/export?format=jsonl', headers: bearer(a) });
      });
      expect(res.statusCode).toBe(200);
      const lines = res.body.trim().split('\n').map((l) => JSON.parse(l) as { action: string });
      expect(lines.filter((l) => l.action === 'knowledge.deleted').length).toBe(4);
      // The export's own record is on the primary, written before the first byte.
      const recorded = await platform.withTenant({ tenantId: a.tenantId }, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM audit_events WHERE action = 'audit.exported'`));
      expect(recorded[0]!.n).toBe(1);
    });

    it('a DSAR export is gathered on the standby and recorded on the primary', async () => {
      await caughtUp();
      const res = await app.inject({ method: 'POST', url: '/api/v1/privacy/exports', headers: bearer(b), payload: { userId: b.userId } });
      expect(res.statusCode).toBe(200);
      expect(json(res).subject.userId).toBe(b.userId);
      const recorded = await platform.withTenant({ tenantId: b.tenantId }, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM audit_events WHERE action = 'privacy.subject.exported'`));
      expect(recorded[0]!.n).toBe(1);
    });
  });
}

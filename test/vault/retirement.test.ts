import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withMaintenance } from '../../src/db/transaction.ts';
import { discardDeadLetter } from '../../src/jobs/operations.ts';
import { openWithMasterKey, parseMasterKeys, sealWithMasterKey } from '../../src/kernel/crypto/index.ts';
import { retireMasterKey, type KeyDependency } from '../../src/kernel/crypto/master-key-store.ts';
import { mailKeyDependencies, MAIL_QUEUE } from '../../src/kernel/mail/delivery.ts';
import { eventually } from '../jobs/support.ts';
import { startApp, type TestApp } from '../support/app.ts';
import { newMasterKey } from './support.ts';

/**
 * Retiring a master key (`ocsuite keys retire`) while servers run: each
 * running server refuses the key within one key reload, and the key is kept
 * while sealed mail that needs it waits in the queue or in the dead letters.
 * The old key has an id of this file's own, so the database other suites
 * share never depends on it.
 */
const oldId = `old-${randomUUID().slice(0, 8)}`;
const oldEntry = newMasterKey(oldId);
const keys = `${oldEntry},*${process.env.OCSUITE_TEST_MASTER_KEYS}`;
/** What another process (the CLI) holds: the same configuration, its own keyring. */
const elsewhere = () => parseMasterKeys(keys);
const underOld = parseMasterKeys(oldEntry);
const MAIL_AAD = 'jobs|mail.send|payload';
const TX = { statementTimeoutMs: 5_000 };

let t: TestApp;
beforeAll(async () => {
  t = await startApp({ OCSUITE_MASTER_KEYS: keys }, { keyReloadMs: 100 });
});
afterAll(async () => {
  await t?.close();
});

const retire = (inTransit: KeyDependency[] = []) =>
  withMaintenance(t.platform.db, TX, (tx) => retireMasterKey(tx, elsewhere(), oldId, inTransit));

describe('master-key retirement', () => {
  it('keeps the key while mail sealed under it is queued, then while it is parked as a dead letter, then retires it; running servers refuse it within one reload', async () => {
    const mail = (to: string) => sealWithMasterKey(underOld, MAIL_AAD, JSON.stringify({ to, subject: 'Reset your password', text: 'one-time link' }));

    // 1. Queued (delayed an hour, so it stays queued whatever the workers do).
    await t.platform.jobs.send(MAIL_QUEUE.name, { sealed: mail('queued@example.com') }, { delaySeconds: 3_600 });
    const inTransit = (await mailKeyDependencies(t.platform.jobs)).filter((d) => d.masterKeyId === oldId);
    expect(inTransit).toEqual([{ table: 'jobs:mail.send', column: 'payload', masterKeyId: oldId, rows: 1 }]);
    expect(await retire(inTransit)).toMatchObject({ retired: false, reason: 'in-use', dependencies: inTransit });

    // 2. Parked: a mail that failed every attempt waits for an operator's retry.
    const parked = await withMaintenance(t.platform.db, TX, (tx) => tx.query<{ id: string }>(sql`
      INSERT INTO job_platform_dead_letters (queue, job_id, payload, error, attempts)
      VALUES (${MAIL_QUEUE.name}, ${randomUUID()}, ${JSON.stringify({ sealed: mail('parked@example.com') })}::jsonb, 'smtp refused', 9) RETURNING id`));
    expect(await retire()).toMatchObject({
      retired: false, reason: 'in-use', dependencies: [{ table: 'job_platform_dead_letters', column: 'payload', masterKeyId: oldId, rows: 1 }],
    });
    const discarded = await discardDeadLetter({ db: t.platform.db, jobs: t.platform.jobs, statementTimeoutMs: 5_000 }, { kind: 'operator', name: 'test' }, parked[0]!.id);
    expect(discarded?.status).toBe('discarded');

    // 3. Nothing left that needs it: retired, and the running server stops opening what it sealed.
    const probe = sealWithMasterKey(underOld, 'test|retirement|probe', 'still readable');
    expect(openWithMasterKey(t.platform.keyring, 'test|retirement|probe', probe).toString()).toBe('still readable');
    expect(await retire()).toEqual({ retired: true, alreadyRetired: false });
    const refusal = await eventually('the running server refuses the retired key', () => {
      try {
        openWithMasterKey(t.platform.keyring, 'test|retirement|probe', probe);
        return undefined;
      } catch (err) {
        return err as { code?: string };
      }
    }, 10_000);
    expect(refusal.code).toBe('ERR_KEY_RETIRED');
    // The primary is untouched: the server still signs in and seals under it.
    const signup = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'After retirement', email: `r-${randomUUID().slice(0, 8)}@example.com`, password: 'correct horse battery staple' } });
    expect(signup.statusCode).toBe(201);
  });
});

import { masterKeyIdOfSealed, openWithMasterKey, sealWithMasterKey, type Keyring } from '../crypto/index.ts';
import type { KeyDependency } from '../crypto/master-key-store.ts';
import { PoisonError } from '../jobs/errors.ts';
import type { JobQueue, QueueDefinition } from '../jobs/port.ts';
import type { Mailer, OutgoingMail } from './mailer.ts';
import type { Session } from '../../db/client.ts';

export const MAIL_QUEUE: QueueDefinition = {
  name: 'mail.send',
  scope: 'platform',
  retryLimit: 8,
  retryDelaySeconds: 5,
  expireInSeconds: 120,
  // Backpressure: past this, an invitation answers 503 with Retry-After instead of growing the backlog.
  maxDepth: 10_000,
  concurrency: 4,
};

// Mails carry one-time links; the job store only ever holds them sealed.
const AAD = 'jobs|mail.send|payload';

/**
 * Queues a mail for delivery with retries; returns once the job is stored. With `tx`, the job is
 * an outbox row of that transaction: the mail goes if and only if the change that causes it commits.
 */
export async function enqueueMail(jobs: JobQueue, keyring: Keyring, mail: OutgoingMail, tx?: Session): Promise<void> {
  await jobs.send(MAIL_QUEUE.name, { sealed: sealWithMasterKey(keyring, AAD, JSON.stringify(mail)) }, tx ? { tx } : {});
}

function parseMailJob(data: unknown): { sealed: string } {
  const sealed = (data as { sealed?: unknown } | null)?.sealed;
  if (typeof sealed !== 'string') throw new PoisonError('mail job without a sealed payload');
  return { sealed };
}

/** Declares the mail queue; with `mailer`, this process also delivers (workers). */
export async function registerMailJobs(jobs: JobQueue, keyring: Keyring, mailer: Mailer): Promise<void> {
  await jobs.define(MAIL_QUEUE, async (job: { data: { sealed: string } }) => {
    let mail: OutgoingMail;
    try {
      mail = JSON.parse(openWithMasterKey(keyring, AAD, job.data.sealed).toString('utf8')) as OutgoingMail;
    } catch (err) {
      // A payload that does not open under our keys never will: straight to the dead letters.
      throw new PoisonError(`mail payload does not open: ${(err as Error).message}`);
    }
    try {
      await mailer.send(mail);
    } catch (err) {
      // SMTP replies quote the recipient ("550 <someone@…>: no such user"): the error that reaches logs
      // and dead letters names the failure, never the address.
      const e = err as { responseCode?: unknown; code?: unknown };
      throw new Error(`mail delivery failed (${[e.code, e.responseCode].filter((x) => typeof x === 'string' || typeof x === 'number').join(' ') || 'unknown error'})`);
    }
  }, { parse: parseMailJob });
}

/**
 * Master keys that sealed mail still in the queue (waiting, delayed, being
 * retried or sent): `ocsuite keys retire` refuses a key one of them needs,
 * or the mail would be dead-lettered as unopenable.
 */
export async function mailKeyDependencies(jobs: Pick<JobQueue, 'pendingData'>): Promise<KeyDependency[]> {
  const perKey = new Map<string, number>();
  for (const data of await jobs.pendingData(MAIL_QUEUE.name)) {
    const sealed = (data as { sealed?: unknown } | null)?.sealed;
    let id: string;
    try {
      id = masterKeyIdOfSealed(sealed as string);
    } catch {
      continue; // not a sealed payload: it dead-letters as poison whatever keys exist
    }
    perKey.set(id, (perKey.get(id) ?? 0) + 1);
  }
  return [...perKey].map(([masterKeyId, rows]) => ({ table: `jobs:${MAIL_QUEUE.name}`, column: 'payload', masterKeyId, rows }));
}

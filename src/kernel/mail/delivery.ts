import { openWithMasterKey, sealWithMasterKey, type Keyring } from '../crypto/index.ts';
import type { JobQueue } from '../../jobs/queue.ts';
import type { Mailer, OutgoingMail } from './mailer.ts';

export const MAIL_QUEUE = {
  name: 'mail.send',
  scope: 'platform',
  retryLimit: 8,
  retryDelaySeconds: 5,
  expireInSeconds: 120,
} as const;

// Mails carry one-time links; the job table only ever holds them sealed.
const AAD = 'jobs|mail.send|payload';

/** Queues a mail for delivery with retries; returns once the job is stored. */
export async function enqueueMail(jobs: JobQueue, keyring: Keyring, mail: OutgoingMail): Promise<void> {
  await jobs.send(MAIL_QUEUE.name, { sealed: sealWithMasterKey(keyring, AAD, JSON.stringify(mail)) });
}

export async function startMailWorker(jobs: JobQueue, keyring: Keyring, mailer: Mailer): Promise<void> {
  await jobs.define(MAIL_QUEUE);
  await jobs.work(MAIL_QUEUE.name, async (data) => {
    const sealed = (data as { sealed?: unknown }).sealed;
    if (typeof sealed !== 'string') throw new Error('mail job without a sealed payload');
    await mailer.send(JSON.parse(openWithMasterKey(keyring, AAD, sealed).toString('utf8')) as OutgoingMail);
  });
}

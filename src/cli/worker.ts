import { bootPlatform, shutdownPlatform } from '../boot.ts';
import type { Config } from '../config/config.ts';
import { auditKernel } from '../kernel/audit/service.ts';

/**
 * `ocsuite worker` — runs every queue's workers, the schedules and the
 * failure-spike monitor in a process of its own (production: BullMQ on Redis,
 * or pg-boss on PostgreSQL). In the embedded profile the workers run inside
 * `ocsuite serve`, which owns the PGlite data folder.
 */
export async function workerCommand(config: Config): Promise<number> {
  if (config.profile === 'embedded') {
    console.error('ocsuite worker: the embedded profile runs its jobs inside `ocsuite serve` (PGlite is single-process); set DATABASE_URL (and REDIS_URL) to run workers apart');
    return 2;
  }
  const platform = await bootPlatform(config, { workers: true });
  // Scheduled checkpoint publication finds the audit kernel bound to this process's database.
  auditKernel(platform);
  const queues = platform.jobs.definitions().map((d) => d.name);
  platform.log.info({ driver: platform.jobs.driver, queues }, 'worker running');
  process.stdout.write(`ocsuite worker: ${platform.jobs.driver}, ${queues.length} queues (${queues.join(', ')})\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  platform.log.info('worker stopping: in-flight jobs finish first');
  await shutdownPlatform(platform);
  return 0;
}

import { bootPlatform, shutdownPlatform } from '../boot.ts';
import type { Config } from '../config/config.ts';
import { buildServer } from '../server.ts';

/** Starts the API and stops cleanly on SIGINT/SIGTERM (in-flight requests finish first). */
export async function serve(config: Config): Promise<number> {
  const platform = await bootPlatform(config, { workers: config.inProcessWorkers });
  let app: Awaited<ReturnType<typeof buildServer>> | undefined;
  let address: string;
  try {
    app = await buildServer(platform);
    address = await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    // A port in use or a bad HOST: stop everything started so far, so the process exits instead of hanging.
    await app?.close().catch(() => {});
    await shutdownPlatform(platform).catch(() => {});
    throw err;
  }
  const lines = [
    '',
    `  OC-Suite is running (${config.profile} profile) at ${address}`,
    config.profile === 'embedded' ? `  data: ${config.dataDir}  (PGlite; mail goes to ${config.dataDir}/outbox)` : '  data: PostgreSQL (DATABASE_URL)',
    '',
    '  next:',
    `    create a tenant:  curl -s -X POST ${address}/api/v1/auth/signup -H 'content-type: application/json' \\`,
    `                        -d '{"tenantName":"Acme","email":"you@example.com","password":"a long passphrase"}'`,
    `    API description:  ${address}/openapi.json`,
    '    routes:           npm run ocsuite -- routes',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  platform.log.info('shutting down');
  await app.close();
  await shutdownPlatform(platform);
  return 0;
}

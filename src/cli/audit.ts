/**
 * `ocsuite audit key` — print the verifier key of the audit logs.
 * `ocsuite audit checkpoint` — sign a checkpoint of every log whose head moved
 *   (and push it to the witness, if configured); what the scheduled job does.
 * `ocsuite audit rotate-key` — retire the log signing key for a new one (same
 *   key name, so origins stay); running servers switch at their next checkpoint.
 * Only the database and the master keys are opened: no jobs, no mail.
 */
import { loadKeyring } from '../boot.ts';
import type { Config } from '../config/config.ts';
import { openDatabase } from '../db/open.ts';
import { auditKernel } from '../kernel/audit/service.ts';
import { createEgress } from '../kernel/egress/index.ts';
import { createLogger } from '../kernel/telemetry/logger.ts';
import { bindTransactions } from '../kernel/platform.ts';
import type { CliIo } from './access-log.ts';

const consoleIo: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) };

export async function auditCommand(config: Config, args: string[], io: CliIo = consoleIo): Promise<number> {
  const [sub] = args;
  if (sub !== 'key' && sub !== 'checkpoint' && sub !== 'rotate-key') {
    io.err('usage: ocsuite audit key | checkpoint | rotate-key');
    return 2;
  }
  const log = createLogger(config.logLevel === 'silent' ? 'silent' : 'warn');
  const db = await openDatabase(config);
  try {
    const kernel = auditKernel({
      config, db, log, keyring: loadKeyring(config, log), ...bindTransactions(config, db),
      egress: createEgress({ allowCidrs: config.egressAllowCidrs, allowHttpHosts: config.egressAllowHttpHosts }),
    });
    if (sub === 'rotate-key') {
      const r = await kernel.rotateKey({ type: 'operator', id: 'cli:audit rotate-key' });
      io.out(`retired ${r.retiredKeyId ?? '(none)'}; ${r.logs} log(s) recorded with their last signed size`);
      io.out(r.verifierKey);
      return 0;
    }
    if (sub === 'key') {
      io.out((await kernel.signer()).verifierKey);
      return 0;
    }
    const { published, failed } = await kernel.publishCheckpoints();
    io.out(`signed ${published} new checkpoint(s)`);
    for (const f of failed) io.err(`NOT checkpointed ${f.log}: ${f.error}`);
    return failed.length > 0 ? 1 : 0;
  } finally {
    await db.close();
  }
}

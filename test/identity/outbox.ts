import fs from 'node:fs';
import path from 'node:path';
import type { TestApp } from '../support/app.ts';

/** Waits for the mail job to write a message to `to` into the embedded outbox; returns it decoded. */
export async function mailTo(t: TestApp, to: string, timeoutMs = 20_000): Promise<string> {
  const dir = path.join(t.platform.config.dataDir, 'outbox');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
      if (text.includes(`To: ${to}`)) return text;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail to ${to} within ${timeoutMs} ms`);
}

export const tokenIn = (mail: string, prefix: string) => new RegExp(`${prefix}_[A-Za-z0-9_-]{43}`).exec(mail)?.[0];

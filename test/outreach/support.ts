import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  /** Header fields, names lower-cased, folded lines unfolded. */
  headers: Map<string, string>;
  messageId: string | undefined;
}

/** Header block of a raw message, unfolded (RFC 5322 §2.2.3). */
export function parseHeaders(raw: string): Map<string, string> {
  const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
  const out = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}

/** The body as text, quoted-printable soft breaks and =XX escapes undone. */
export function bodyText(raw: string): string {
  const body = raw.split(/\r?\n\r?\n/).slice(1).join('\n\n');
  return body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * A real SMTP server on 127.0.0.1 (smtp-server) that keeps what it accepts.
 * `hold` lets a test stall the DATA phase of chosen messages (to crash a
 * worker mid-send); `refuse` answers chosen recipients with an SMTP error.
 */
export async function startSmtp(opts: { hold?: (mail: ReceivedMail) => boolean; refuse?: (to: string) => { code: number; message: string } | undefined } = {}) {
  const received: ReceivedMail[] = [];
  const held: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    disableReverseLookup: true,
    onRcptTo(address, _session, done) {
      const refusal = opts.refuse?.(address.address);
      if (refusal) return done(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
      done();
    },
    onData(stream, session, done) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      stream.on('end', () => {
        const headers = parseHeaders(raw);
        const mail: ReceivedMail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          headers,
          messageId: headers.get('message-id'),
        };
        if (opts.hold?.(mail)) {
          held.push(mail); // never answered: the client waits until it is killed
          return;
        }
        received.push(mail);
        done();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    held,
    async waitFor(predicate: (all: ReceivedMail[]) => boolean, ms = 30_000) {
      const deadline = Date.now() + ms;
      while (!predicate(received)) {
        if (Date.now() > deadline) throw new Error(`SMTP server: condition not met within ${ms} ms (${received.length} received)`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

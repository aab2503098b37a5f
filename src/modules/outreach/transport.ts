import fs from 'node:fs';
import path from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { addressPolicy } from '../../kernel/egress/address-policy.ts';
import { EgressRefusedError } from '../../kernel/egress/errors.ts';
import { resolvePermitted } from '../../kernel/egress/resolve.ts';
import type { Platform } from '../../kernel/platform.ts';
import { useConnectorSecret } from '../connectors/secret-use.ts';

/** What the delivery job hands to a transport: one finished message. */
export interface OutreachMessage {
  from: string;
  to: string;
  subject: string;
  text: string;
  messageId: string;
  headers: Record<string, string>;
}

export interface OutreachTransport {
  send(message: OutreachMessage): Promise<{ response: string }>;
  close(): void;
}

/** SMTP's verdict on one message: permanent (5xx: do not retry, the address may be dead) or not. */
export class SmtpRefusal extends Error {
  readonly permanent: boolean;
  readonly responseCode: number | undefined;
  constructor(message: string, permanent: boolean, responseCode: number | undefined) {
    super(message);
    this.name = 'SmtpRefusal';
    this.permanent = permanent;
    this.responseCode = responseCode;
  }
}

export class TransportConfigError extends Error {
  override readonly name = 'TransportConfigError';
}

/** An SMTP reply quotes the recipient ("550 <a@b>: unknown"): keep the code and enhanced status only. */
function refusalOf(err: unknown): SmtpRefusal {
  const e = err as { responseCode?: unknown; code?: unknown; response?: unknown };
  const code = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const enhanced = typeof e.response === 'string' ? (e.response.match(/\b[245]\.\d{1,3}\.\d{1,3}\b/)?.[0] ?? '') : '';
  const label = [typeof e.code === 'string' ? e.code : '', code ?? '', enhanced].filter(Boolean).join(' ') || 'unknown error';
  return new SmtpRefusal(`SMTP delivery failed (${label})`, code !== undefined && code >= 500, code);
}

function wrap(transport: Transporter<SMTPTransport.SentMessageInfo>, after?: (info: SMTPTransport.SentMessageInfo) => void): OutreachTransport {
  return {
    async send(m) {
      try {
        const info = await transport.sendMail({ from: m.from, to: m.to, subject: m.subject, text: m.text, messageId: m.messageId, headers: m.headers });
        after?.(info);
        // The server's reply without the recipient it may quote.
        return { response: String(info.response ?? '').replace(/<[^>]*>/g, '<…>').slice(0, 200) };
      } catch (err) {
        throw refusalOf(err);
      }
    },
    close: () => transport.close(),
  };
}

/**
 * The kernel egress guard's address rules for a TCP target that is not a URL:
 * every address the host resolves to must be public unicast unless the operator
 * allowed its range (OCSUITE_EGRESS_ALLOW_CIDRS), and the socket goes to the
 * address that was checked, not to whatever the name resolves to next (DNS rebinding).
 */
async function checkedAddress(host: string, allowCidrs: readonly string[]): Promise<string> {
  try {
    return (await resolvePermitted(host, addressPolicy(allowCidrs))).address;
  } catch (err) {
    if (err instanceof EgressRefusedError) throw new TransportConfigError(`the SMTP host is refused: ${err.message}`);
    throw err;
  }
}

/**
 * The transport of one tenant for one delivery run: the tenant's own SMTP
 * connector when its settings name one (credentials opened through
 * connectors' audited secret path, host checked by the egress rules),
 * else the platform relay (SMTP_URL), else the local outbox (embedded).
 */
export async function openTransport(platform: Platform, tenantId: string, connectorId: string | null): Promise<{ transport: OutreachTransport; from: string | null }> {
  if (connectorId) {
    const credential = await useConnectorSecret(platform, tenantId, connectorId, 'outreach.send');
    const meta = credential.metadata as { host?: unknown; port?: unknown; secure?: unknown; username?: unknown; from?: unknown };
    if (credential.provider !== 'smtp' || typeof meta.host !== 'string' || typeof meta.username !== 'string') {
      throw new TransportConfigError('the SMTP connector needs provider "smtp" and metadata host and username (port, secure and from optional)');
    }
    const address = await checkedAddress(meta.host, platform.config.egressAllowCidrs);
    const port = typeof meta.port === 'number' ? meta.port : 587;
    const transport = nodemailer.createTransport({
      // One connection for the run's messages (a run sends one after another); closed when the run ends.
      pool: true,
      maxConnections: 1,
      host: address,
      port,
      secure: meta.secure === true,
      // STARTTLS is required on a submission port unless the connector says the link is already TLS.
      requireTLS: meta.secure !== true && port !== 25,
      auth: { user: meta.username, pass: credential.secret },
      tls: { servername: meta.host, minVersion: 'TLSv1.2' },
      connectionTimeout: 15_000,
      greetingTimeout: 15_000,
      socketTimeout: 30_000,
    } as SMTPTransport.Options);
    return { transport: wrap(transport), from: typeof meta.from === 'string' ? meta.from : null };
  }
  if (platform.config.smtpUrl) {
    const url = new URL(platform.config.smtpUrl);
    url.searchParams.set('pool', 'true');
    url.searchParams.set('maxConnections', '1');
    return { transport: wrap(nodemailer.createTransport(url.toString())), from: null };
  }
  const outbox = path.join(platform.config.dataDir, 'outbox');
  const stream = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    transport: wrap(stream as unknown as Transporter<SMTPTransport.SentMessageInfo>, (info) => {
      fs.mkdirSync(outbox, { recursive: true, mode: 0o700 });
      const name = `${new Date().toISOString().replaceAll(':', '-')}-${String(info.messageId).replace(/[^A-Za-z0-9.@-]/g, '')}.eml`;
      fs.writeFileSync(path.join(outbox, name), (info as unknown as { message: Buffer }).message, { mode: 0o600 });
    }),
    from: null,
  };
}

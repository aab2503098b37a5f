import type { OutreachMessage } from './transport.ts';

/**
 * One marketing mail as it leaves: the campaign's text, then the footer every
 * commercial message must carry — the sender's postal address (CAN-SPAM,
 * 15 U.S.C. 7704(a)(5)(A)(iii)) and a working opt-out link (7704(a)(3)) —
 * and the RFC 2369 / RFC 8058 headers that let a mailbox provider offer its
 * own one-click "unsubscribe" button: `List-Unsubscribe` with the https URL
 * and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, which tells the
 * provider to POST that body to the URL (RFC 8058 §3.1). The URL's GET shows a
 * page and changes nothing, so a link scanner unsubscribes nobody.
 */
export function buildMessage(input: {
  from: string;
  to: string;
  subject: string;
  body: string;
  postalAddress: string;
  senderName: string;
  unsubscribeUrl: string;
  messageId: string;
  campaignId: string;
}): OutreachMessage {
  const footer = [
    '',
    '-- ',
    `${input.senderName}, ${input.postalAddress.replace(/\s*\r?\n\s*/g, ', ')}`,
    `You receive this because you subscribed or are a customer. Unsubscribe: ${input.unsubscribeUrl}`,
  ].join('\n');
  return {
    from: input.from,
    to: input.to,
    subject: input.subject,
    text: `${input.body.replace(/\r\n/g, '\n').trimEnd()}\n${footer}\n`,
    messageId: input.messageId,
    headers: {
      'List-Unsubscribe': `<${input.unsubscribeUrl}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      // RFC 3834 / common practice: bulk mail, no auto-replies wanted.
      Precedence: 'bulk',
      'Auto-Submitted': 'auto-generated',
      'X-OCSuite-Campaign': input.campaignId,
    },
  };
}

/** `<send id@host>`: unique per (campaign, contact), fixed before the first attempt (RFC 5322 §3.6.4). */
export function messageIdFor(sendId: string, publicUrl: string): string {
  return `<${sendId}@${new URL(publicUrl).hostname || 'ocsuite.invalid'}>`;
}

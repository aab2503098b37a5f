/**
 * The public pages of /u/{token} and /c/{token}: plain HTML, every value
 * escaped, no script, no style sheet, no third-party anything. The response
 * headers (see PAGE_HEADERS) forbid everything the page does not use.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** A strict CSP: nothing loads, the form may post only back to us, nobody may frame the page (clickjacking). */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'cache-control': 'no-store',
  // The token is in the URL: no Referer may carry it anywhere.
  'referrer-policy': 'no-referrer',
  'x-robots-tag': 'noindex, nofollow',
} as const;

/** `alice@example.com` → `a••••@example.com`: enough for the person to recognise, little for anyone who got the link. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return '•••';
  return `${address[0]}${'•'.repeat(Math.min(8, Math.max(3, at - 1)))}${address.slice(at)}`;
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title></head>
<body><main><h1>${escapeHtml(title)}</h1>
${body}
</main></body></html>
`;
}

/** The GET page: asks, changes nothing (link scanners open every URL of a mail). */
export function confirmPage(kind: 'unsubscribe' | 'confirm', action: string, address: string | null, sender: string | null): string {
  const who = address ? `<p>Address: <strong>${escapeHtml(maskAddress(address))}</strong></p>` : '';
  const from = sender ? `<p>Sender: ${escapeHtml(sender)}</p>` : '';
  if (kind === 'unsubscribe') {
    return page('Unsubscribe?', `${who}${from}<p>Press the button to stop receiving these emails.</p>
<form method="post" action="${escapeHtml(action)}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`);
  }
  return page('Confirm your subscription?', `${who}${from}<p>Press the button to confirm that you want to receive these emails.</p>
<form method="post" action="${escapeHtml(action)}"><button type="submit">Confirm</button></form>`);
}

export const donePage = (kind: 'unsubscribe' | 'confirm') => kind === 'unsubscribe'
  ? page('You are unsubscribed', '<p>You will not receive these emails any more.</p>')
  : page('Subscription confirmed', '<p>Thank you: your subscription is confirmed.</p>');

export const invalidPage = () => page('This link is not valid', '<p>The link is incomplete, expired or was not issued by us.</p>');

export const refusedPage = (detail: string) => page('Not possible', `<p>${escapeHtml(detail)}</p>`);

/**
 * The sign-in page of GET /sso/discourse/{tenantId}: plain HTML, every value
 * escaped, no script, no style, nothing loaded. The form posts back to us;
 * form-action also names the Discourse origin because browsers apply it to the
 * 303 that follows the POST.
 */
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

export function pageHeaders(discourseOrigin: string | null): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'none'; form-action 'self'${discourseOrigin ? ` ${discourseOrigin}` : ''}; frame-ancestors 'none'; base-uri 'none'`,
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'x-robots-tag': 'noindex, nofollow',
  };
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

export interface SignInForm {
  action: string;
  forumHost: string;
  sso: string;
  sig: string;
  email?: string | undefined;
  message?: string | undefined;
  askCode?: boolean | undefined;
}

export function signInPage(f: SignInForm): string {
  const message = f.message ? `<p role="alert"><strong>${escapeHtml(f.message)}</strong></p>` : '';
  return page('Sign in to the forum', `<p>Sign in to continue to <strong>${escapeHtml(f.forumHost)}</strong>.</p>
${message}<form method="post" action="${escapeHtml(f.action)}">
<input type="hidden" name="sso" value="${escapeHtml(f.sso)}"><input type="hidden" name="sig" value="${escapeHtml(f.sig)}">
<p><label>Email <input type="email" name="email" autocomplete="username" required value="${escapeHtml(f.email ?? '')}"></label></p>
<p><label>Password <input type="password" name="password" autocomplete="current-password" required></label></p>
<p><label>Authenticator code${f.askCode ? '' : ' (if your account uses one)'} <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code"${f.askCode ? ' required' : ''}></label></p>
<p><button type="submit">Sign in</button></p>
</form>`);
}

const REFUSALS: Record<string, string> = {
  'not-configured': 'This forum sign-in is not set up.',
  'bad-signature': 'The sign-in request was not signed by the forum.',
  'bad-payload': 'The sign-in request is incomplete.',
  'foreign-return-url': 'The sign-in request points to another site.',
  'replayed-nonce': 'This sign-in request was already used. Start again from the forum.',
  'stale-nonce': 'This sign-in request expired. Start again from the forum.',
  'not-a-member': 'Your account is not a member of this organisation.',
  'mfa-required': 'Your organisation requires a second factor: set one up in your account first.',
};

export const refusedPage = (reason: string) => page('Sign-in not possible', `<p>${escapeHtml(REFUSALS[reason] ?? 'The sign-in request was refused.')}</p>`);

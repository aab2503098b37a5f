/**
 * The console's Content-Security-Policy: scripts, styles and connections from
 * this origin only — no inline script, no inline style, no eval, no framing;
 * Trusted Types forbid string-to-HTML sinks (innerHTML) outright, so user
 * content can only ever reach the page as text.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

/** Added to helmet's defaults (nosniff, HSTS, referrer-policy, …), which every answer already has. */
export function consoleHeaders(type: string, immutable: boolean): Record<string, string> {
  return {
    'content-type': type,
    'content-security-policy': CONSOLE_CSP,
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
    // Hashed file names (Vite) may be cached for good; the page itself never, so a deploy is seen at once.
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-store',
  };
}

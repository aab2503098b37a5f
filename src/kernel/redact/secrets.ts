import { shannonEntropy } from './entropy.ts';
import { findPemBlocks } from './pem.ts';
import type { Finding } from './types.ts';

/**
 * Secret rules. The provider prefixes follow the gitleaks default rule set
 * (github.com/gitleaks/gitleaks, config/gitleaks.toml, MIT), reduced to the
 * shapes that need no surrounding keyword; ours (`ocs_…`, `whsec_…`) are added.
 * Each pattern is linear (no nested quantifiers) so a hostile text cannot make
 * a scan slow. A rule with a `group` reports only that capture group's span.
 */
interface SecretRule {
  kind: string;
  pattern: RegExp;
  group?: number;
}

const rules: readonly SecretRule[] = [
  { kind: 'ocsuite-token', pattern: /\bocs_[a-z]{1,16}_[A-Za-z0-9_-]{16,}/g },
  { kind: 'webhook-secret', pattern: /\bwhsec_[A-Za-z0-9+/=_-]{16,}/g },
  { kind: 'jwt', pattern: /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g },
  { kind: 'anthropic-key', pattern: /\bsk-ant-[A-Za-z0-9_-]{20,}/g },
  { kind: 'openai-key', pattern: /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g },
  { kind: 'aws-access-key-id', pattern: /\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b/g },
  { kind: 'github-token', pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g },
  { kind: 'gitlab-token', pattern: /\bgl(?:pat|dt|ptt|rt)-[A-Za-z0-9_-]{20,}/g },
  { kind: 'slack-token', pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/g },
  { kind: 'slack-webhook', pattern: /\bhttps:\/\/hooks\.slack\.com\/(?:services|workflows)\/[A-Za-z0-9+/_-]{20,}/g },
  { kind: 'stripe-key', pattern: /\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b/g },
  { kind: 'google-api-key', pattern: /\bAIza[0-9A-Za-z_-]{35}\b/g },
  { kind: 'sendgrid-key', pattern: /\bSG\.[A-Za-z0-9_-]{20,24}\.[A-Za-z0-9_-]{39,50}\b/g },
  { kind: 'twilio-key', pattern: /\bSK[0-9a-f]{32}\b/g },
  { kind: 'npm-token', pattern: /\bnpm_[A-Za-z0-9]{36}\b/g },
  { kind: 'pypi-token', pattern: /\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}/g },
  { kind: 'huggingface-token', pattern: /\bhf_[A-Za-z0-9]{34,}\b/g },
  { kind: 'digitalocean-token', pattern: /\bdo[opr]_v1_[a-f0-9]{64}\b/g },
  { kind: 'shopify-token', pattern: /\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b/g },
  { kind: 'authorization-header', pattern: /\b(?:Bearer|Basic|Token)\s+([A-Za-z0-9._~+/-]{12,}=*)/g, group: 1 },
  // Credentials inside a URL: only the password part (scheme://user:PASSWORD@host).
  { kind: 'url-credentials', pattern: /\b[a-z][a-z0-9+.-]{1,20}:\/\/[^\s:/@]{1,100}:([^\s@/]{1,200})@/gi, group: 1 },
  // `password = …`, `api_key: "…"`: the value after a secret-named key.
  { kind: 'secret-assignment', pattern: /\b(?:api[_-]?key|api[_-]?secret|secret(?:[_-]?key)?|client[_-]?secret|access[_-]?key(?:[_-]?id)?|auth[_-]?token|access[_-]?token|token|passw(?:or)?d|passphrase|pwd)["']?\s{0,4}[:=]\s{0,4}["']?([^\s"'`,;]{8,200})/gi, group: 1 },
];

/** Token-shaped runs long enough to be keys; judged by character classes and entropy. */
const candidate = /[A-Za-z0-9+/_=-]{32,}/g;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Random base64 of 32+ characters scores ≥ 4.3 bits/char; long identifiers reach 4.3 too, hence the case test below. */
const ENTROPY_BITS = 4.0;

function highEntropy(token: string): boolean {
  const core = token.replace(/^[-_=/+]+|[-_=/+]+$/g, '');
  if (core.length < 32 || uuid.test(core)) return false;
  if (!/[0-9]/.test(core)) return false;
  // Random mixed-case text has about as many capitals as small letters; CamelCase identifiers
  // capitalise only word starts (≈ 1 in 5). The minority case must be a quarter of the letters.
  const lower = core.match(/[a-z]/g)?.length ?? 0;
  const caps = core.match(/[A-Z]/g)?.length ?? 0;
  if (Math.min(lower, caps) < 0.25 * (lower + caps)) return false;
  // Paths and URLs: segments of words, not one key.
  if ((core.match(/\//g)?.length ?? 0) > 3) return false;
  return shannonEntropy(core) >= ENTROPY_BITS;
}

export function findSecrets(text: string): Finding[] {
  const out: Finding[] = findPemBlocks(text);
  for (const rule of rules) {
    if (rule.group === undefined) {
      for (const m of text.matchAll(rule.pattern)) out.push({ category: 'secret', kind: rule.kind, start: m.index, end: m.index + m[0].length });
      continue;
    }
    for (const m of text.matchAll(rule.pattern)) {
      const value = m[rule.group];
      if (!value) continue;
      const start = m.index + m[0].length - value.length - trailingQuote(m[0], value);
      out.push({ category: 'secret', kind: rule.kind, start, end: start + value.length });
    }
  }
  for (const m of text.matchAll(candidate)) {
    if (highEntropy(m[0])) out.push({ category: 'secret', kind: 'high-entropy-token', start: m.index, end: m.index + m[0].length });
  }
  return out;
}

/** Offset of the captured value from the end of the whole match (the capture is its last part, bar a suffix we matched). */
function trailingQuote(whole: string, value: string): number {
  const at = whole.lastIndexOf(value);
  return whole.length - (at + value.length);
}

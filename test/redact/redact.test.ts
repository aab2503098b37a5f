import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { luhnValid, maskText, PlaceholderSession, scan, SECRET_REMOVED, shannonEntropy } from '../../src/kernel/redact/index.ts';

// Every secret is generated at run time: none lives in the repository.
const alnum = (n: number) => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += abc[bytes[i]! % abc.length];
  // Random strings are mixed-case with digits with overwhelming probability; make it certain.
  return `aZ9${s.slice(3)}`;
};
const hex = (n: number) => randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
const b64url = (n: number) => randomBytes(n).toString('base64url');
const upper = (n: number) => alnum(n).toUpperCase().replace(/[^A-Z0-9]/g, 'Q');

const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const jwt = `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify({ sub: 'u1', exp: 2e9 })).toString('base64url')}.${b64url(32)}`;

const secrets: Record<string, string> = {
  'openai-key': `sk-proj-${alnum(48)}`,
  'anthropic-key': `sk-ant-api03-${alnum(90)}`,
  'aws-access-key-id': `AKIA${upper(16)}`,
  'github-token': `ghp_${alnum(36)}`,
  'gitlab-token': `glpat-${alnum(20)}`,
  'slack-token': `xoxb-${hex(12)}-${hex(12)}-${alnum(24)}`,
  'stripe-key': `sk_live_${alnum(24)}`,
  'google-api-key': `AIza${alnum(35)}`,
  'sendgrid-key': `SG.${alnum(22)}.${alnum(43)}`,
  'npm-token': `npm_${alnum(36)}`,
  'huggingface-token': `hf_${alnum(34)}`,
  'ocsuite-token': `ocs_sk_${b64url(24)}`,
  'webhook-secret': `whsec_${randomBytes(24).toString('base64')}`,
  jwt,
  'pem-private-key': pem,
  'high-entropy-token': `${alnum(20)}${b64url(24)}`,
};

describe('secret detection', () => {
  for (const [kind, value] of Object.entries(secrets)) {
    it(`finds ${kind} inside prose and masks it`, () => {
      const text = `Here is the thing: ${value} — please keep it.`;
      const found = scan(text);
      expect(found.map((f) => f.category)).toContain('secret');
      const masked = maskText(text);
      expect(masked).not.toContain(value.trim());
      expect(masked.startsWith('Here is the thing: [redacted:')).toBe(true);
      expect(masked.endsWith(' — please keep it.')).toBe(true);
    });
  }

  it('names the provider rule rather than the generic one', () => {
    expect(scan(secrets['github-token']!)[0]!.kind).toBe('github-token');
    expect(scan(secrets.jwt!)[0]!.kind).toBe('jwt');
    expect(scan(`key ${secrets['anthropic-key']}`)[0]!.kind).toBe('anthropic-key');
    expect(scan(pem)[0]!.kind).toBe('pem-private-key');
  });

  it('removes a truncated private key (BEGIN without END)', () => {
    const half = pem.slice(0, pem.length / 2);
    expect(maskText(`oops ${half}`)).toBe('oops [redacted:pem-private-key]');
  });

  it('finds values of secret-named keys, authorization headers and URL passwords, keeping the names', () => {
    const pw = `Tr0ub4dor&${hex(6)}`;
    expect(maskText(`password = "${pw}"`)).toBe('password = "[redacted:secret-assignment]"');
    expect(maskText(`API_KEY: ${hex(40)}`)).toBe('API_KEY: [redacted:secret-assignment]');
    const bearer = b64url(20);
    expect(maskText(`Authorization: Bearer ${bearer}`)).toBe('Authorization: Bearer [redacted:authorization-header]');
    expect(maskText(`postgres://app:${hex(12)}@db.internal:5432/x`)).toBe('postgres://app:[redacted:url-credentials]@db.internal:5432/x');
  });

  const benign = [
    'The quick brown fox jumps over the lazy dog, again and again, until the end of the paragraph.',
    'internationalizationAndLocalizationConfigurationManager',
    'ThisIsAVeryLongCamelCaseIdentifierName1ForTestingPurposes2',
    'request id 550e8400-e29b-41d4-a716-446655440000 was slow',
    'commit 9fceb02d0ae598e95dc970b74767f19372d61af8 fixed it',
    'sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'see /usr/local/lib/node_modules/typescript/lib/tsserver.js line 42',
    'https://example.com/docs/getting-started/installation?lang=en#step-2',
    'version 1.2.3 of sk-learn is out; the task-list is sk-12',
    'token count: 1234, password policy requires 12 characters',
    'Bearer tokens expire after an hour.',
    'aGVsbG8gd29ybGQ= is hello world in base64',
    'AbstractSingletonProxyFactoryBean2AndAnotherLongJavaClassName3',
    'MAX_CONNECTIONS_PER_HOST_DEFAULT_VALUE_2024_SETTINGS',
  ];
  for (const text of benign) {
    it(`leaves benign text alone: ${text.slice(0, 40)}…`, () => {
      expect(scan(text, { pii: false })).toEqual([]);
    });
  }

  it('scores random keys above the entropy bar and words below it', () => {
    expect(shannonEntropy(b64url(48))).toBeGreaterThan(4.0);
    expect(shannonEntropy('abab')).toBe(1);
    expect(shannonEntropy('aaaaaaaa')).toBe(0);
    expect(shannonEntropy('')).toBe(0);
  });
});

describe('personal data detection', () => {
  const nifNumber = 12345678;
  const nif = `${nifNumber}${'TRWAGMYFPDXBNJZSQVHLCKE'[nifNumber % 23]}`;
  const nie = `X1234567${'TRWAGMYFPDXBNJZSQVHLCKE'[1234567 % 23]}`;
  const nirBody = '1850578006084';
  const nir = `${nirBody}${String(97 - Number(BigInt(nirBody) % 97n)).padStart(2, '0')}`;
  const positives: Array<[string, string]> = [
    ['email', 'jane.doe+news@mail.example.co.uk'],
    ['email', 'X@EXAMPLE.ORG'],
    ['phone', '+44 20 7946 0958'],
    ['phone', '+1 (202) 555-0143'],
    ['phone', '+49 30 901820'],
    ['card-number', '4111 1111 1111 1111'],
    ['card-number', '5555-5555-5555-4444'],
    ['card-number', '378282246310005'],
    ['card-number', '6011111111111117'],
    ['iban', 'DE89 3704 0044 0532 0130 00'],
    ['iban', 'GB82WEST12345698765432'],
    ['iban', 'FR14 2004 1010 0505 0001 3M02 606'],
    ['us-ssn', '123-45-6789'],
    ['uk-nino', 'AB 12 34 56 C'],
    ['uk-nino', 'JG103759A'],
    ['es-dni', nif],
    ['es-dni', nie],
    ['fr-nir', nir],
  ];
  for (const [kind, value] of positives) {
    it(`finds ${kind} ${value}`, () => {
      const text = `Contact: ${value}. Thanks`;
      const found = scan(text);
      expect(found).toEqual([{ category: 'pii', kind, start: 9, end: 9 + value.length }]);
    });
  }

  it('finds national-format phone numbers only with a region', () => {
    const text = 'call 030 901820 tomorrow';
    expect(scan(text).filter((f) => f.kind === 'phone')).toEqual([]);
    expect(scan(text, { phoneRegion: 'DE' }).map((f) => text.slice(f.start, f.end))).toEqual(['030 901820']);
  });

  const negatives = [
    'Invoice 4111 1111 1111 1112 is due',          // Luhn fails
    'Order 1234567812345678 shipped',               // Luhn fails
    'Tracking 1000000000000008 (Luhn-valid, no card scheme starts with 1)',
    'DE89 3704 0044 0532 0130 01 is a typo',        // IBAN checksum fails
    'XX12 3456 7890 1234 56 is no country',
    'released on 2024-11-30 at 10:15',
    'SSN-like 000-12-3456 and 666-12-3456 and 123-00-4567 are never issued',
    'the DNI 12345678A has a wrong letter',
    'NIR 185057800608400 has a wrong key',
    'QQ123456C uses a prefix HMRC never allocates',
    'an email-ish word like user@localhost or a@b',
    'ISBN 978-3-16-148410-0 and Total: 1,234,567.89',
    'call extension 1234 or room 555',
  ];
  for (const text of negatives) {
    it(`does not flag: ${text}`, () => {
      expect(scan(text, { secrets: false, phoneRegion: 'US' })).toEqual([]);
    });
  }

  it('checks Luhn', () => {
    expect(luhnValid('79927398713')).toBe(true);
    expect(luhnValid('79927398710')).toBe(false);
    expect(luhnValid('')).toBe(false);
    expect(luhnValid('12a4')).toBe(false);
  });

  it('keeps an IBAN to its country length when capitals follow', () => {
    const text = 'pay DE89 3704 0044 0532 0130 00 OK';
    const [f] = scan(text);
    expect(text.slice(f!.start, f!.end)).toBe('DE89 3704 0044 0532 0130 00');
  });
});

describe('overlaps', () => {
  it('a secret wins over the personal data inside it', () => {
    const text = `smtp://jane%40example.com:${hex(16)}@mail.example.com`;
    const kinds = scan(text).map((f) => f.kind);
    expect(kinds).toContain('url-credentials');
    expect(maskText(text)).not.toMatch(/[0-9a-f]{16}/);
  });

  it('spans never overlap and come in text order', () => {
    const text = `a@b.co ${secrets.jwt} +44 20 7946 0958 ${secrets['github-token']} DE89370400440532013000`;
    const found = scan(text);
    for (let i = 1; i < found.length; i++) expect(found[i]!.start).toBeGreaterThanOrEqual(found[i - 1]!.end);
    expect(found.map((f) => f.kind)).toEqual(['email', 'jwt', 'phone', 'github-token', 'iban']);
  });
});

describe('prompt placeholders', () => {
  it('replaces personal data reversibly and secrets irreversibly', () => {
    const s = new PlaceholderSession();
    const key = secrets['openai-key']!;
    const prompt = s.redact(`Write to jane@example.com and bob@example.org (cc jane@example.com); key ${key}`);
    expect(prompt).toBe(`Write to ⟦EMAIL_1⟧ and ⟦EMAIL_2⟧ (cc ⟦EMAIL_1⟧); key ${SECRET_REMOVED}`);
    expect(s.summary).toEqual({ secrets: 1, pii: 3, kinds: { email: 3, 'openai-key': 1 } });
    expect(s.restore('Dear ⟦EMAIL_2⟧, see ⟦EMAIL_1⟧ and ⟦EMAIL_9⟧.')).toBe('Dear bob@example.org, see jane@example.com and ⟦EMAIL_9⟧.');
    expect(s.restore(SECRET_REMOVED)).toBe(SECRET_REMOVED);
  });

  it('numbers consistently across the parts of one call', () => {
    const s = new PlaceholderSession();
    const a = s.redact('from +44 20 7946 0958');
    const b = s.redact('again +44 20 7946 0958 and IBAN GB82WEST12345698765432');
    expect(a).toBe('from ⟦PHONE_1⟧');
    expect(b).toBe('again ⟦PHONE_1⟧ and IBAN ⟦IBAN_1⟧');
    expect(s.size).toBe(2);
  });

  it('defuses placeholder-shaped input so restore cannot be asked for another value', () => {
    const s = new PlaceholderSession();
    const data = s.redact('jane@example.com');
    const hostile = s.redact('print ⟦EMAIL_1⟧ please');
    expect(data).toBe('⟦EMAIL_1⟧');
    expect(hostile).toBe('print [EMAIL_1] please');
    expect(s.restore(hostile)).toBe('print [EMAIL_1] please');
  });

  it('keeps personal data when asked but still removes secrets', () => {
    const s = new PlaceholderSession();
    expect(s.redact(`jane@example.com ${secrets['stripe-key']}`, { keepPii: true })).toBe(`jane@example.com ${SECRET_REMOVED}`);
  });
});

describe('hostile input', () => {
  it('masks every phone number of a digit-dense text, also past the validation budget', () => {
    const numbers = Array.from({ length: 400 }, (_, i) => `+44 20 7946 ${String(i).padStart(4, '0')}`);
    const masked = maskText(numbers.join(', '));
    expect(masked).not.toMatch(/7946/);
    expect(masked.split('[redacted:phone]').length - 1).toBe(400);
  });

  it('stays linear on pathological inputs', () => {
    const inputs = [
      '-----BEGIN PRIVATE KEY-----'.repeat(2000),
      `${'a'.repeat(50_000)}@`,
      `${'1 '.repeat(30_000)}`,
      `${'A1'.repeat(30_000)}`,
      `password=${'x'.repeat(60_000)}`,
    ];
    for (const text of inputs) expect(() => maskText(text)).not.toThrow();
  });
});

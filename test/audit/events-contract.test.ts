import { describe, expect, it } from 'vitest';
import { toAuditRecord, type AuditEventInput } from '../../src/kernel/audit/events.ts';
import { canonicalJson, leafBytes } from '../../src/kernel/audit/leaf.ts';
import { REDACTED, redactMetadata, redactText } from '../../src/kernel/audit/redact.ts';

const base: AuditEventInput = { tenantId: '6f1c7a52-9e55-4c38-9d0e-2b8f5a1b7c11', actor: { type: 'user', id: 'u1' }, action: 'member.role_changed', outcome: 'success' };
const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlc2lnbmF0dXJl';

describe('metadata redaction', () => {
  it('drops secret-named keys at any depth, whatever their value', () => {
    const out = redactMetadata({
      password: 'hunter2', newPassword: 'x', token: 't', accessToken: 'a', client_secret: 's', Authorization: 'Bearer abc',
      apiKey: 'k', 'x-api-key': 'k', privateKey: 'p', cookie: 'c', nested: { refresh_token: 'r', keep: 1, deeper: [{ secret: 's', ok: true }] },
      role: 'admin',
    });
    expect(out).toEqual({ nested: { keep: 1, deeper: [{ ok: true }] }, role: 'admin' });
  });

  it('replaces token-shaped values wherever they appear, keeping the rest of the text', () => {
    const out = redactMetadata({
      note: `used ocs_rt_${'A'.repeat(43)} then ${jwt} and Bearer abcdefghijklmnop`,
      list: [`ocs_inv_${'b'.repeat(43)}`, 'plain'],
      key: `ocs_ak_${'c'.repeat(30)}`,
    });
    expect(out.note).toBe(`used ${REDACTED} then ${REDACTED} and ${REDACTED}`);
    expect(out.list).toEqual([REDACTED, 'plain']);
    expect(out.key).toBe(REDACTED);
    expect(JSON.stringify(out)).not.toMatch(/ocs_|eyJ/);
  });

  it('never cuts a long value or text in the middle of a surrogate pair', () => {
    for (const offset of [0, 1]) {
      const long = `${'a'.repeat(1_999 - offset)}😀${'b'.repeat(50)}`;
      const value = redactMetadata({ long }).long as string;
      expect(value.isWellFormed()).toBe(true);
      const text = redactText(`${'a'.repeat(499 - offset)}😀tail`)!;
      expect(text.isWellFormed()).toBe(true);
      expect(text.length).toBeLessThanOrEqual(500);
    }
  });

  it('gives plain JSON that jsonb stores unchanged: no NUL, no lone surrogate, no NaN, no functions, bounded depth', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const out = redactMetadata({ nul: 'a\u0000b', lone: 'x\ud800y', nan: NaN, inf: Infinity, f: () => 1, u: undefined, big: 10n, when: new Date(0), cyclic });
    expect(out.nul).toBe('ab');
    expect(out.lone).toBe('x\ufffdy');
    expect(out.nan).toBeNull();
    expect(out.inf).toBeNull();
    expect(out.big).toBe('10');
    expect(out.when).toBe('1970-01-01T00:00:00.000Z');
    expect('f' in out || 'u' in out).toBe(false);
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });
});

describe('event validation', () => {
  it('refuses malformed actions, actors, outcomes and tenant ids', () => {
    for (const bad of [
      { ...base, action: 'login' }, { ...base, action: 'Auth.Login' }, { ...base, action: 'a.b; drop table' },
      { ...base, actor: { type: 'root' } }, { ...base, outcome: 'ok' }, { ...base, tenantId: 'not-a-uuid' }, { ...base, target: { type: '' } },
    ]) {
      expect(() => toAuditRecord(bad as AuditEventInput), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_INVALID' }));
    }
  });

  it('normalises into the stored record, with redacted reason and metadata', () => {
    const r = toAuditRecord({ ...base, reason: `bad token ${jwt}`, metadata: { password: 'x', to: 'viewer' }, request: { ip: '10.0.0.1', requestId: 'req-1' } }, new Date('2024-05-01T10:00:00.123Z'));
    expect(r).toMatchObject({ tenantId: base.tenantId, occurredAt: '2024-05-01T10:00:00.123Z', reason: `bad token ${REDACTED}`, metadata: { to: 'viewer' }, ip: '10.0.0.1', userAgent: null, requestId: 'req-1' });
  });
});

describe('the canonical leaf', () => {
  it('is independent of key order and changes with every field, the log included', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    const r = toAuditRecord({ ...base, metadata: { x: 1, y: 2 } });
    const same = { ...r, metadata: { y: 2, x: 1 } };
    expect(leafBytes(same).equals(leafBytes(r))).toBe(true);
    const variants = [
      { ...r, id: '00000000-0000-4000-8000-000000000000' }, { ...r, tenantId: null }, { ...r, occurredAt: '2000-01-01T00:00:00.000Z' },
      { ...r, actorId: 'u2' }, { ...r, action: 'member.removed' }, { ...r, outcome: 'failure' }, { ...r, reason: 'x' },
      { ...r, metadata: { x: 2, y: 2 } }, { ...r, ip: '1.2.3.4' }, { ...r, targetType: 'user' },
    ];
    for (const v of variants) expect(leafBytes(v).equals(leafBytes(r)), JSON.stringify(v)).toBe(false);
  });
});

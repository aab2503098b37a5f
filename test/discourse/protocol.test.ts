import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeRequest, encodeAnswer, onOrigin, signSso, verifySso } from '../../src/modules/discourse/protocol.ts';

const v = JSON.parse(readFileSync(new URL('../vectors/protocols.json', import.meta.url), 'utf8')).discourseConnect as Record<string, string>;

describe('DiscourseConnect wire format (the documented example)', () => {
  it('verifies the incoming sig over the base64 text exactly as received, trailing newline included', () => {
    expect(signSso(v.secret!, v.incomingSso!)).toBe(v.incomingSig);
    expect(verifySso(v.secret!, v.incomingSso!, v.incomingSig!)).toBe(true);
    // Re-encoded without the newline it is another message.
    expect(verifySso(v.secret!, v.incomingSso!.trimEnd(), v.incomingSig!)).toBe(false);
    expect(Buffer.from(v.incomingSso!, 'base64').toString()).toBe(`nonce=${v.nonce}`);
  });

  it('reproduces the answer payload and its signature', () => {
    const fields = [...new URLSearchParams(v.answerUnsigned!)];
    const sso = encodeAnswer(fields);
    expect(sso).toBe(v.answerSso);
    expect(signSso(v.secret!, sso)).toBe(v.answerSig);
  });

  it('refuses tampered, truncated, non-hex and other-secret signatures', () => {
    const flipped = (v.incomingSig![0] === 'a' ? 'b' : 'a') + v.incomingSig!.slice(1);
    expect(verifySso(v.secret!, v.incomingSso!, flipped)).toBe(false);
    expect(verifySso(v.secret!, v.incomingSso!, v.incomingSig!.slice(0, 63))).toBe(false);
    expect(verifySso(v.secret!, v.incomingSso!, 'z'.repeat(64))).toBe(false);
    expect(verifySso('another secret', v.incomingSso!, v.incomingSig!)).toBe(false);
    expect(verifySso(v.secret!, v.incomingSso!.replace('bm9u', 'bm9v'), v.incomingSig!)).toBe(false);
  });

  it('needs a nonce and a return_sso_url; checks the origin exactly', () => {
    expect(decodeRequest(v.incomingSso!)).toBeNull();
    const sso = Buffer.from('nonce=abc&return_sso_url=https%3A%2F%2Fforum.example.com%2Fsession%2Fsso_login').toString('base64');
    expect(decodeRequest(sso)).toEqual({ nonce: 'abc', returnSsoUrl: 'https://forum.example.com/session/sso_login' });
    expect(onOrigin('https://forum.example.com/session/sso_login', 'https://forum.example.com')).toBe(true);
    for (const bad of ['https://forum.example.com.evil.test/x', 'http://forum.example.com/x', 'https://forum.example.com:8443/x',
      'https://user@forum.example.com/x', 'javascript:alert(1)', '//forum.example.com/x']) {
      expect(onOrigin(bad, 'https://forum.example.com')).toBe(false);
    }
  });
});

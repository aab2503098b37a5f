import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hmacSha256 } from '../../src/kernel/crypto/hmac.ts';

/**
 * RFC 4231 §4 (HMAC-SHA-256 test cases 1, 2, 3, 6 and 7; 6 and 7 have keys longer
 * than the block, which RFC 2104 §2 hashes first), and agreement with Node's
 * createHmac for any key, any split of the message, strings and bytes.
 */
const hex = (s: string) => Buffer.from(s, 'hex');
const RFC4231 = [
  { case: 1, key: Buffer.alloc(20, 0x0b), data: Buffer.from('Hi There'), mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7' },
  { case: 2, key: Buffer.from('Jefe'), data: Buffer.from('what do ya want for nothing?'), mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843' },
  { case: 3, key: Buffer.alloc(20, 0xaa), data: Buffer.alloc(50, 0xdd), mac: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe' },
  { case: 6, key: Buffer.alloc(131, 0xaa), data: Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'), mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54' },
  {
    case: 7, key: Buffer.alloc(131, 0xaa),
    data: Buffer.from('This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.'),
    mac: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
  },
];

describe('hmacSha256 (RFC 2104 over one-shot SHA-256)', () => {
  it.each(RFC4231)('reproduces RFC 4231 test case $case', ({ key, data, mac }) => {
    expect(hmacSha256(key, data)).toEqual(hex(mac));
  });

  it('equals createHmac for any key length (block boundaries included) and any split of the message', () => {
    fc.assert(fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(63, 64, 65).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }))),
      fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.uint8Array({ maxLength: 300 })), { maxLength: 5 }),
      (key, parts) => {
        const reference = createHmac('sha256', key);
        for (const p of parts) reference.update(typeof p === 'string' ? Buffer.from(p, 'utf8') : p);
        expect(hmacSha256(key, ...parts)).toEqual(reference.digest());
      },
    ), { numRuns: 500 });
  });

  it('changes with any flipped bit of key or message', () => {
    const key = Buffer.alloc(32, 1);
    const msg = Buffer.from('msg_1.1700000000.{"a":1}');
    const mac = hmacSha256(key, msg);
    for (const [k, m] of [[Buffer.from(key).fill(3, 0, 1), msg], [key, Buffer.from(msg).fill(0x41, 5, 6)]] as const) {
      expect(hmacSha256(k, m)).not.toEqual(mac);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { sentTogether } from '../../src/db/transaction.ts';

/** Writes sent together in one transaction: the error reported is the cause, never the 25P02 that followed it. */
const failing = (code: string) => Promise.reject(Object.assign(new Error(code), { code }));

describe('sentTogether', () => {
  it('resolves when every write does', async () => {
    await expect(sentTogether([Promise.resolve(1), Promise.resolve('x')])).resolves.toBeUndefined();
  });

  it('throws the cause whichever position it holds, not the aborted-transaction errors after it', async () => {
    await expect(sentTogether([failing('25P02'), failing('23505'), failing('25P02')])).rejects.toMatchObject({ code: '23505' });
    await expect(sentTogether([failing('23514'), failing('25P02')])).rejects.toMatchObject({ code: '23514' });
    const plain = new Error('connection lost');
    await expect(sentTogether([failing('25P02'), Promise.reject(plain)])).rejects.toBe(plain);
  });

  it('throws 25P02 when that is all there is (the cause came before these writes)', async () => {
    await expect(sentTogether([failing('25P02'), Promise.resolve()])).rejects.toMatchObject({ code: '25P02' });
  });
});

import type { Database, Session } from '../../src/db/client.ts';
import { withOwner } from '../../src/db/transaction.ts';

class Rollback extends Error {}

/** `fn`'s result, from an owner transaction rolled back afterwards: scratch DDL never commits. */
export async function rolledBack<T>(db: Database, fn: (tx: Session) => Promise<T>): Promise<T> {
  let result!: T;
  await withOwner(db, async (tx) => {
    result = await fn(tx);
    throw new Rollback();
  }).catch((err) => {
    if (!(err instanceof Rollback)) throw err;
  });
  return result;
}

/**
 * Online, resumable key rotation (docs/security/encryption-key-rotation.md).
 *
 * A rotation walks every value it is responsible for, in keyset order and in
 * batches (batch-walk.ts): a value already under the target key is opened
 * (verified), any other is opened with its own key, sealed again under the
 * target and swapped with a compare-and-swap on the old ciphertext, and what
 * the swap stored is opened again (verified). So:
 * - a run that is killed resumes by running again: the work is found from
 *   the data itself, nothing is lost (a value is only ever replaced, in one
 *   statement, by a ciphertext of the same plaintext), and nothing is
 *   encrypted twice (a value under the target key is never re-sealed);
 * - a concurrent write always wins (the swap does not match its new value),
 *   and the value it wrote is opened by one more pass;
 * - every value has been opened under the new key when the run reports success.
 * Each batch is one short transaction as the maintenance role.
 *
 * The pieces: rotation-runs.ts (run bookkeeping), sealed-column-pass.ts (one
 * pass over the sealed columns of the registry, sealed-columns.ts, for either
 * scope), data-key-pass.ts (rewrapping tenant data keys), master-rotation.ts,
 * tenant-rotation.ts and rotation-verify.ts (`ocsuite keys verify`).
 */
export { RotationAborted, type RotationOptions, type RotationProgress } from './rotation-options.ts';
export type { RotationProblem } from './rotation-passes.ts';
export { rotateMasterKey, type MasterRotationReport } from './master-rotation.ts';
export { rotateTenantKey, rotateTenantKeys, type TenantRotationReport, type TenantsRotationReport } from './tenant-rotation.ts';
export { verifyAllSealed, type VerifyReport } from './rotation-verify.ts';

// Public API of the RFC 6962 / RFC 9162 transparency log core (storage-agnostic).

export { TranslogError, type TranslogErrorCode } from './errors.ts';
export { HASH_SIZE, leafHash, nodeHash, emptyRoot } from './hash.ts';
export {
  appendLeaves,
  rootAt,
  inclusionProof,
  consistencyProof,
  rootFromLeaves,
  perfectSubtrees,
  MemoryNodeStore,
  type NodeKey,
  type HashedNode,
  type NodeReader,
  type AppendResult,
} from './tree.ts';
export { verifyInclusion, verifyConsistency, rootFromInclusionProof } from './verify.ts';
export {
  signCheckpoint,
  parseCheckpoint,
  verifyCheckpoint,
  verifierKeyString,
  parseVerifierKey,
  ed25519KeyId,
  type TreeHead,
  type TreeHeadInput,
  type CheckpointSigner,
  type CheckpointVerifier,
  type NoteSignature,
  type ParsedCheckpoint,
} from './checkpoint.ts';
export {
  signCosignature,
  verifyCosignatureLine,
  verifyCosigned,
  parseCosignatureVerifierKey,
  cosignatureVerifierKey,
  cosignatureKeyId,
  appendSignatureLines,
  type Cosignature,
  type CosignatureVerifier,
} from './cosignature.ts';

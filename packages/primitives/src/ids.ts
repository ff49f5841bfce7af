import bs58 from 'bs58';
import { PrimitiveError, PrimitiveErrorCode } from './errors.js';

/** Every id is 32 bytes: context ids, identities, delta ids, hashes, key ids, blob ids. */
export const ID_BYTES = 32;

/** The all-zero id: the genesis parent of every context DAG and the root hash of an empty state. */
export const ZERO_ID: Readonly<Buffer> = Buffer.alloc(ID_BYTES);

export function isZeroId(id: Uint8Array): boolean {
  return id.length === ID_BYTES && id.every((b) => b === 0);
}

/** Whether two lists name the same set of ids (DAG heads compared in any order). */
export function sameIdSet(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  const inA = new Set(a.map((id) => Buffer.from(id).toString('hex')));
  const inB = new Set(b.map((id) => Buffer.from(id).toString('hex')));
  return inA.size === inB.size && [...inB].every((id) => inA.has(id));
}

/** Checks that `bytes` is a 32-byte id; `what` names it in the error. */
export function assertId(bytes: Uint8Array, what = 'id'): Buffer {
  if (bytes.length !== ID_BYTES) {
    throw new PrimitiveError(PrimitiveErrorCode.BadId, `${what} must be ${ID_BYTES} bytes, got ${bytes.length}`);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** The human form of an id: base58 (Bitcoin alphabet). */
export function toBase58(id: Uint8Array): string {
  return bs58.encode(id);
}

export function fromBase58(text: string, what = 'id'): Buffer {
  let bytes: Uint8Array;
  try {
    bytes = bs58.decode(text);
  } catch {
    throw new PrimitiveError(PrimitiveErrorCode.BadId, `${what} is not base58: ${text.slice(0, 64)}`);
  }
  return assertId(bytes, what);
}

export function idEquals(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Bytewise order of ids (for deterministic sorting). */
export function compareIds(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

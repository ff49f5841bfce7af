import { sha256 } from './hash.js';
import { ZERO_ID } from './ids.js';

/**
 * The state tree: a fixed 16-ary tree over SHA-256(key). Level 0 is the root; level TREE_DEPTH holds
 * the leaf buckets, named by the first TREE_DEPTH hex nibbles of the key hash (65 536 buckets).
 * Comparing two replicas costs O(differences × depth), not O(entries).
 *
 * Hashes (the database maintains the same ones incrementally):
 * - leaf contribution of a live entry = keyHash ‖ SHA-256(value) ‖ HLC (canonical)
 * - bucket hash = SHA-256 of its contributions in key-hash order
 * - inner node hash = SHA-256 of (nibble byte ‖ child hash) for each non-empty child, in nibble order
 * - an empty subtree has no node; the root of an empty state is the zero hash.
 * Tombstones are not hashed: sync carries them beside the hashes.
 */
export const TREE_FANOUT = 16;
export const TREE_DEPTH = 4;

export function keyHashOf(key: Uint8Array): Buffer {
  return sha256(key);
}

/** The path of a key's bucket: its key hash's first TREE_DEPTH hex nibbles. */
export function bucketOf(keyHash: Uint8Array): string {
  return Buffer.from(keyHash.subarray(0, TREE_DEPTH / 2)).toString('hex');
}

export interface LiveEntry {
  keyHash: Buffer;
  valueHash: Buffer;
  /** Canonical HLC bytes of the entry's write. */
  hlc: Buffer;
}

export function bucketHash(entries: readonly LiveEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => Buffer.compare(a.keyHash, b.keyHash));
  return sha256(...sorted.flatMap((e) => [e.keyHash, e.valueHash, e.hlc]));
}

/** Hash of an inner node from its non-empty children: (nibble, hash) pairs. */
export function innerNodeHash(children: readonly (readonly [number, Buffer])[]): Buffer {
  const sorted = [...children].sort((a, b) => a[0] - b[0]);
  return sha256(...sorted.flatMap(([nibble, hash]) => [Buffer.from([nibble]), hash]));
}

/** Digest sizes a tree comparison may ask for (a truncated salted hash stands for a child's hash). */
export const TREE_DIGEST_MIN_BYTES = 4;
export const TREE_DIGEST_MAX_BYTES = 32;

/**
 * What a tree comparison sends for a child instead of its 32-byte hash: SHA-256(salt ‖ hash)
 * truncated. The comparing side picks a fresh salt per session, so two different hashes that
 * happen to share a digest are missed in one session only, never systematically.
 */
export function childDigest(salt: Uint8Array, hash: Uint8Array, bytes: number): Buffer {
  return sha256(salt, hash).subarray(0, bytes);
}

/** Every node hash of the tree, by path ('' is the root): the reference the database must match. */
export function computeTree(entries: readonly LiveEntry[]): Map<string, Buffer> {
  const nodes = new Map<string, Buffer>();
  const buckets = new Map<string, LiveEntry[]>();
  for (const entry of entries) {
    const path = bucketOf(entry.keyHash);
    const list = buckets.get(path) ?? [];
    list.push(entry);
    buckets.set(path, list);
  }
  let level = new Map<string, Buffer>([...buckets].map(([path, list]) => [path, bucketHash(list)]));
  for (const [path, hash] of level) nodes.set(path, hash);
  for (let depth = TREE_DEPTH - 1; depth >= 0; depth--) {
    const parents = new Map<string, [number, Buffer][]>();
    for (const [path, hash] of level) {
      const parent = path.slice(0, depth);
      const list = parents.get(parent) ?? [];
      list.push([parseInt(path.slice(depth), 16), hash]);
      parents.set(parent, list);
    }
    level = new Map([...parents].map(([path, children]) => [path, innerNodeHash(children)]));
    for (const [path, hash] of level) nodes.set(path, hash);
  }
  return nodes;
}

/** The root hash of a state, computed from scratch. */
export function computeRootHash(entries: readonly LiveEntry[]): Buffer {
  return computeTree(entries).get('') ?? Buffer.from(ZERO_ID);
}

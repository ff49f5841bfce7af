import { SyncRefusal, entryToWire, syncError } from '@cnode/context-core';
import { childDigest, TREE_DEPTH, TREE_DIGEST_MAX_BYTES, TREE_DIGEST_MIN_BYTES } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import {
  MAX_RESPONSE_BYTES,
  MAX_TREE_PATHS_PER_REQUEST,
  TREE_COMPRESS_MIN_BYTES,
  TREE_DIGEST_SALT_MAX_BYTES,
  TREE_DIGEST_SALT_MIN_BYTES,
} from '../constants.js';
import { deflate } from '../compression.js';
import type { ResponderDeps } from './deps.js';

/** Packs children as a nibble bitmap plus their digests concatenated in nibble order. */
export function packChildren(
  children: readonly { nibble: number; hash: Buffer }[],
  salt: Uint8Array,
  digestBytes: number,
): { childMask: number; childDigests: Buffer } {
  let childMask = 0;
  for (const c of children) childMask |= 1 << c.nibble;
  return { childMask, childDigests: Buffer.concat(children.map((c) => childDigest(salt, c.hash, digestBytes))) };
}

/**
 * Answers a TreeNodeRequest: each asked inner node with its children's salted digests, each bucket
 * with its hash and entries (tombstones included), all from one snapshot of our state; deflated
 * when that makes the answer smaller.
 */
export async function serveTreeNodes(
  deps: ResponderDeps,
  contextId: Buffer,
  req: wire.TreeNodeRequest,
): Promise<wire.SyncStreamMessage> {
  if (req.paths.length > MAX_TREE_PATHS_PER_REQUEST) {
    return syncError(SyncRefusal.Malformed, `at most ${MAX_TREE_PATHS_PER_REQUEST} paths per request`);
  }
  const saltOk =
    req.digestSalt.length >= TREE_DIGEST_SALT_MIN_BYTES && req.digestSalt.length <= TREE_DIGEST_SALT_MAX_BYTES;
  if (!saltOk || req.digestBytes < TREE_DIGEST_MIN_BYTES || req.digestBytes > TREE_DIGEST_MAX_BYTES) {
    return syncError(
      SyncRefusal.Malformed,
      `digest_salt must be ${TREE_DIGEST_SALT_MIN_BYTES}..${TREE_DIGEST_SALT_MAX_BYTES} bytes and digest_bytes ${TREE_DIGEST_MIN_BYTES}..${TREE_DIGEST_MAX_BYTES}`,
    );
  }
  const nodes = await deps.stateSync.treeNodes(contextId, req.paths);
  // Stay under the frame cap: nodes past it are left out, and the requester asks for them again.
  const out: wire.TreeNodeData[] = [];
  let bytes = 0;
  for (const n of nodes) {
    const bucket = n.path.length === TREE_DEPTH;
    const data: wire.TreeNodeData = {
      path: n.path,
      found: n.found,
      hash: bucket && n.found ? n.hash : Buffer.alloc(0),
      ...packChildren(n.children, req.digestSalt, req.digestBytes),
      entries: n.entries.map(entryToWire),
    };
    bytes += wire.TreeNodeData.encode(data).finish().length + 8;
    if (bytes > MAX_RESPONSE_BYTES && out.length > 0) break;
    out.push(data);
  }
  deps.metrics.treeNodesServed.inc(out.length);
  // Buckets' entries compress (authors, clocks and keys repeat); a few digests are not worth it.
  const body = wire.TreeNodes.encode({ nodes: out }).finish();
  if (body.length >= TREE_COMPRESS_MIN_BYTES) {
    const compressed = deflate(body);
    if (compressed.length < body.length) {
      return {
        payload: {
          $case: 'treeNodeResponse',
          treeNodeResponse: { nodes: [], compressed, uncompressedLen: body.length },
        },
      };
    }
  }
  return {
    payload: {
      $case: 'treeNodeResponse',
      treeNodeResponse: { nodes: out, compressed: Buffer.alloc(0), uncompressedLen: 0 },
    },
  };
}

import { SyncRefusal, entryToWire, syncError } from '@cnode/context-core';
import { wire } from '@cnode/proto';
import { MAX_RESPONSE_BYTES, MAX_TREE_PATHS_PER_REQUEST } from '../constants.js';
import type { ResponderDeps } from './deps.js';

/** Packs children as a nibble bitmap plus their hashes concatenated in nibble order. */
export function packChildren(children: readonly { nibble: number; hash: Buffer }[]): {
  childMask: number;
  childHashes: Buffer;
} {
  let childMask = 0;
  for (const c of children) childMask |= 1 << c.nibble;
  return { childMask, childHashes: Buffer.concat(children.map((c) => c.hash)) };
}

/** Answers a TreeNodeRequest: each asked node with its children's hashes, or a bucket's entries. */
export async function serveTreeNodes(
  deps: ResponderDeps,
  contextId: Buffer,
  req: wire.TreeNodeRequest,
): Promise<wire.SyncStreamMessage> {
  if (req.paths.length > MAX_TREE_PATHS_PER_REQUEST) {
    return syncError(SyncRefusal.Malformed, `at most ${MAX_TREE_PATHS_PER_REQUEST} paths per request`);
  }
  const nodes = await deps.stateSync.treeNodes(contextId, req.paths);
  // Stay under the frame cap: nodes past it are left out, and the requester asks for them again.
  const out: wire.TreeNodeData[] = [];
  let bytes = 0;
  for (const n of nodes) {
    const data: wire.TreeNodeData = {
      path: n.path,
      found: n.found,
      hash: n.hash,
      ...packChildren(n.children),
      entries: n.entries.map(entryToWire),
    };
    bytes += wire.TreeNodeData.encode(data).finish().length + 8;
    if (bytes > MAX_RESPONSE_BYTES && out.length > 0) break;
    out.push(data);
  }
  deps.metrics.treeNodesServed.inc(out.length);
  return { payload: { $case: 'treeNodeResponse', treeNodeResponse: { nodes: out } } };
}

import { ContextError, ContextErrorCode, entryFromWire, entryToWire } from '@cnode/context-core';
import { randomBytes } from 'node:crypto';
import { bucketHash, childDigest, keyHashOf, TREE_DEPTH, TREE_FANOUT } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { compareEntries, entryValueHash, type SyncEntry } from '@cnode/store';
import { inflateDeclared } from '../compression.js';
import {
  MAX_PUSHED_ENTRIES,
  MAX_TREE_ANSWER_BYTES,
  MAX_TREE_PATHS_PER_REQUEST,
  TREE_DIGEST_BYTES,
  TREE_DIGEST_SALT_MIN_BYTES,
} from '../constants.js';
import type { InitiatorDeps, SessionContext } from './deps.js';

/** Depth-first: paths asked per round trip (the differing children of one node at a time). */
export const DFS_BATCH = TREE_FANOUT;
/**
 * Every node of the tree. A walk asks for each path once (children are distinct per parent; only
 * paths a peer left out of an answer come back), so it never holds more pending paths than this,
 * and every answer names at least one asked path: a peer cannot make a walk endless, only slow,
 * and the session deadline bounds that.
 */
export const TREE_NODES = Array.from({ length: TREE_DEPTH + 1 }, (_, level) => TREE_FANOUT ** level).reduce(
  (a, b) => a + b,
);
/** Most buckets of a local-only subtree pushed per subtree. */
const MAX_BUCKETS_PER_SUBTREE = 65_536;

export interface TreeSyncResult {
  nodesCompared: number;
  bucketsMerged: number;
  pulled: number;
  pushed: number;
}

/** The nodes of a tree answer, inflated (within its declared size) when it came compressed. */
export function treeNodesOf(answer: wire.TreeNodeResponse): wire.TreeNodeData[] {
  if (answer.compressed.length === 0) return answer.nodes;
  if (answer.nodes.length > 0) {
    throw new ContextError(ContextErrorCode.BadAnswer, 'a tree answer carries nodes both plain and compressed');
  }
  const body = inflateDeclared(answer.compressed, answer.uncompressedLen, MAX_TREE_ANSWER_BYTES, 'tree answer');
  try {
    return wire.TreeNodes.decode(body).nodes;
  } catch (err) {
    throw new ContextError(ContextErrorCode.BadAnswer, 'a compressed tree answer does not decode', {}, { cause: err });
  }
}

/** Unpacks a node's children (bitmap + concatenated digests); throws on an inconsistent packing. */
export function unpackChildren(node: wire.TreeNodeData, digestBytes: number): Map<number, Buffer> {
  const children = new Map<number, Buffer>();
  let offset = 0;
  for (let nibble = 0; nibble < TREE_FANOUT; nibble++) {
    if ((node.childMask & (1 << nibble)) === 0) continue;
    const digest = node.childDigests.subarray(offset, offset + digestBytes);
    if (digest.length !== digestBytes) break;
    children.set(nibble, Buffer.from(digest));
    offset += digestBytes;
  }
  if (offset !== node.childDigests.length || node.childMask >>> TREE_FANOUT !== 0) {
    throw new ContextError(ContextErrorCode.BadAnswer, `tree node '${node.path}' packs its children inconsistently`);
  }
  return children;
}

/**
 * Checks that a node the peer sent is consistent with itself: an inner node has children exactly
 * when it exists and no entries, a bucket's entries belong to it and its live ones hash to the
 * bucket's hash. A peer that lies about a bucket's hash is caught here, before anything it sent is
 * merged. (Inner nodes come as digests of their children: nothing in them to check against.)
 */
export function verifyNode(node: wire.TreeNodeData, entries: SyncEntry[], digestBytes: number): Map<number, Buffer> {
  const bad = (why: string): never => {
    throw new ContextError(ContextErrorCode.BadAnswer, `tree node '${node.path}' ${why}`);
  };
  const children = unpackChildren(node, digestBytes);
  if (node.path.length === TREE_DEPTH) {
    if (children.size > 0) bad('is a bucket with children');
    for (const e of entries) if (!keyHashOf(e.key).toString('hex').startsWith(node.path)) bad('holds a foreign key');
    const live = entries.filter((e) => !e.deleted);
    if (!node.found) {
      if (live.length > 0) bad('is absent but has live entries');
      return children;
    }
    const hash = bucketHash(live.map((e) => ({ keyHash: keyHashOf(e.key), valueHash: entryValueHash(e), hlc: e.hlc })));
    if (!hash.equals(node.hash)) bad('does not hash to its entries');
    return children;
  }
  if (entries.length > 0) bad('is an inner node with entries');
  if (node.found !== children.size > 0)
    bad(node.found ? 'is an inner node without children' : 'is absent but has children');
  return children;
}

/**
 * Merkle comparison with a peer, bidirectional: walks the tree from the
 * root, descending only where children differ (compared by salted digests, see TreeNodeRequest); at
 * the buckets, entries (tombstones included) are compared one by one, last writer wins: the peer's
 * winners are merged here, ours are pushed to the peer. `breadthFirst` asks for every differing
 * node of a level in one request (level-wise); otherwise one node's differing children at a time
 * (depth first, hash comparison).
 */
export async function treeSync(deps: InitiatorDeps, s: SessionContext, breadthFirst: boolean): Promise<TreeSyncResult> {
  const result: TreeSyncResult = { nodesCompared: 0, bucketsMerged: 0, pulled: 0, pushed: 0 };
  const salt = randomBytes(TREE_DIGEST_SALT_MIN_BYTES * 2);
  const digest = (hash: Buffer): Buffer => childDigest(salt, hash, TREE_DIGEST_BYTES);
  const outgoing: SyncEntry[] = [];
  const flush = async (all: boolean): Promise<void> => {
    while (outgoing.length >= MAX_PUSHED_ENTRIES || (all && outgoing.length > 0)) {
      const batch = outgoing.splice(0, MAX_PUSHED_ENTRIES);
      const { entityPushAck } = await s.session.request(
        { $case: 'entityPush', entityPush: { contextId: s.ctx.id, entries: batch.map(entryToWire) } },
        'entityPushAck',
      );
      result.pushed += entityPushAck.applied;
      deps.metrics.entitiesMerged.inc({ direction: 'pushed_to_peer' }, entityPushAck.applied);
    }
  };

  let pending: string[] = [''];
  while (pending.length > 0) {
    if (pending.length > TREE_NODES) {
      throw new ContextError(ContextErrorCode.BadAnswer, `tree walk exceeded the ${TREE_NODES} nodes of a tree`);
    }
    // Depth first takes from the end (a stack), breadth first takes the whole frontier.
    const take = breadthFirst
      ? Math.min(pending.length, MAX_TREE_PATHS_PER_REQUEST)
      : Math.min(pending.length, DFS_BATCH);
    const paths = breadthFirst ? pending.splice(0, take) : pending.splice(pending.length - take, take);
    const { treeNodeResponse } = await s.session.request(
      {
        $case: 'treeNodeRequest',
        treeNodeRequest: { contextId: s.ctx.id, paths, digestSalt: salt, digestBytes: TREE_DIGEST_BYTES },
      },
      'treeNodeResponse',
    );
    const asked = new Set(paths);
    const answered = new Set<string>();
    const local = new Map((await deps.stateSync.treeNodes(s.ctx.id, paths)).map((n) => [n.path, n]));
    const next: string[] = [];
    const buckets: { path: string; remote: SyncEntry[] }[] = [];
    for (const node of treeNodesOf(treeNodeResponse)) {
      if (!asked.has(node.path) || answered.has(node.path)) {
        throw new ContextError(ContextErrorCode.BadAnswer, `tree node '${node.path}' was not asked for`);
      }
      answered.add(node.path);
      result.nodesCompared++;
      const entries = node.entries.map((e) => entryFromWire(e));
      const remoteChildren = verifyNode(node, entries, TREE_DIGEST_BYTES);
      if (node.path.length === TREE_DEPTH) {
        buckets.push({ path: node.path, remote: entries });
        continue;
      }
      const localChildren = new Map((local.get(node.path)?.children ?? []).map((c) => [c.nibble, digest(c.hash)]));
      for (let nibble = 0; nibble < TREE_FANOUT; nibble++) {
        const theirs = remoteChildren.get(nibble);
        const ours = localChildren.get(nibble);
        const child = node.path + nibble.toString(16);
        if (theirs && ours?.equals(theirs)) continue;
        if (theirs) next.push(child);
        else if (ours) {
          // A subtree only we have: go straight to our buckets under it (the peer may hold
          // tombstones there, so they are compared, not blindly pushed).
          next.push(...(await deps.stateSync.bucketsUnder(s.ctx.id, child, MAX_BUCKETS_PER_SUBTREE)));
        }
      }
    }
    // Paths the peer left out (its answer stays under the frame cap) are asked for again.
    for (const p of paths) if (!answered.has(p)) next.push(p);
    if (answered.size === 0) throw new ContextError(ContextErrorCode.BadAnswer, 'the peer answered no tree node');
    if (buckets.length > 0) {
      await mergeBuckets(deps, s, buckets, outgoing, result);
      await flush(false);
    }
    pending = breadthFirst ? pending.concat(next) : pending.concat(next.reverse());
  }
  await flush(true);
  return result;
}

/** Entry by entry: the peer's winners merge here, ours go out. */
async function mergeBuckets(
  deps: InitiatorDeps,
  s: SessionContext,
  buckets: { path: string; remote: SyncEntry[] }[],
  outgoing: SyncEntry[],
  result: TreeSyncResult,
): Promise<void> {
  const localByBucket = await deps.stateSync.bucketEntries(
    s.ctx.id,
    buckets.map((b) => b.path),
  );
  const incoming: SyncEntry[] = [];
  for (const { path, remote } of buckets) {
    const theirs = new Map(remote.map((e) => [e.key.toString('hex'), e]));
    for (const e of localByBucket.get(path) ?? []) {
      const other = theirs.get(e.key.toString('hex'));
      theirs.delete(e.key.toString('hex'));
      if (!other) outgoing.push(e);
      else {
        const order = compareEntries(e, other);
        if (order > 0) outgoing.push(e);
        else if (order < 0) incoming.push(other);
      }
    }
    incoming.push(...theirs.values());
    result.bucketsMerged++;
  }
  if (incoming.length > 0) {
    const { changed } = await deps.stateSync.mergeEntries(s.ctx.id, incoming);
    result.pulled += changed;
    deps.metrics.entitiesMerged.inc({ direction: 'pulled' }, changed);
  }
}

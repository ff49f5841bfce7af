/** The catch-up protocols, cheapest first. Label values of the sync metrics. */
export enum SyncProtocol {
  /** Roots equal: nothing to do. */
  None = 'none',
  /** Fetch the deltas behind the peer's DAG heads we lack (history and state together). */
  DeltaCatchup = 'delta_catchup',
  /** Merkle comparison, depth first: one subtree per round trip; cheap when few entries differ. */
  HashComparison = 'hash_comparison',
  /** Merkle comparison, breadth first: every differing node of a level per round trip; for wide divergence. */
  LevelWise = 'level_wise',
  /** A full copy, only for a node without state. */
  Snapshot = 'snapshot',
}

/** How the two DAGs relate, from the peer's heads. */
export interface HeadsComparison {
  /** The peer's heads this node lacks (never seen, or still waiting for parents). */
  lacking: number;
  /** Every head of the peer is applied here and ours differ: the peer is behind us, not apart. */
  peerBehind: boolean;
}

/** What one side knows of a context (ours from the store, the peer's from its DagHeadsResponse). */
export interface SyncSide {
  initialized: boolean;
  rootHash: Buffer;
  entryCount: number;
}

/** Above this share of entries differing (estimated from the counts), level-wise beats depth first. */
export const LEVEL_WISE_DIVERGENCE = 0.1;

/**
 * Protocol choice:
 * 1. the peer has no state → nothing it can give (the caller treats it as "not materialised");
 * 2. we have no state → snapshot (never for an initialized node: invariant I5);
 * 3. the peer has DAG heads we lack → delta catch-up first (the caller compares roots afterwards and
 *    continues with a tree protocol when they still differ: concurrent writes, lost history). Even
 *    with equal roots: a delta whose writes were all overwritten changes no root, and a node that
 *    skipped it would lack an acknowledged write for good (its history never converges);
 * 4. equal roots → nothing;
 * 5. the peer is behind (we hold all its history and more) → nothing to pull: it catches up from us
 *    by its own sync (it sees heads it lacks in our heartbeats), so a tree walk would only repeat
 *    that work entry by entry;
 * 6. estimated divergence |ours − theirs| / theirs above LEVEL_WISE_DIVERGENCE → level-wise, whose
 *    round trips do not grow with the number of differences;
 * 7. otherwise (same heads, different roots: state lost or damaged without history) → hash comparison.
 */
export function selectProtocol(local: SyncSide, remote: SyncSide, heads: HeadsComparison): SyncProtocol {
  if (!remote.initialized) return SyncProtocol.None;
  if (!local.initialized) return SyncProtocol.Snapshot;
  if (heads.lacking > 0) return SyncProtocol.DeltaCatchup;
  if (local.rootHash.equals(remote.rootHash)) return SyncProtocol.None;
  if (heads.peerBehind) return SyncProtocol.None;
  return treeProtocol(local, remote);
}

/** Between the two tree protocols, by estimated divergence. */
export function treeProtocol(local: SyncSide, remote: SyncSide): SyncProtocol.HashComparison | SyncProtocol.LevelWise {
  const divergence = Math.abs(local.entryCount - remote.entryCount) / Math.max(remote.entryCount, 1);
  return divergence > LEVEL_WISE_DIVERGENCE ? SyncProtocol.LevelWise : SyncProtocol.HashComparison;
}

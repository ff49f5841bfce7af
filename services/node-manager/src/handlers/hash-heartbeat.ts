import { queueSync } from '../contexts/queue-sync.js';
import type { BusMetrics, Catalog } from '@cnode/bus';
import { ID_BYTES, isZeroId, sameIdSet, toBase58 } from '@cnode/primitives';
import { bus, type wire } from '@cnode/proto';
import type { Logger } from '@cnode/runtime';
import type { Redis, StateStore, StateSyncStore } from '@cnode/store';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NodeManagerMetrics } from '../metrics.js';

/** Root divergence with identical heads is escalated at this many identical observations (§3.1). */
export const DIVERGENCE_PERSIST_THRESHOLD = 2;
/** "Peer has heads we lack" syncs of one context at most this often (30 s heartbeats − 5 s). */
export const BEHIND_SYNC_DEBOUNCE_MS = 25_000;
/** Heartbeat bookkeeping expires after this long without a heartbeat (HEARTBEAT_STATE_TTL). */
export const HEARTBEAT_STATE_TTL_MS = 300_000;

export enum HeartbeatOutcome {
  InSync = 'in_sync',
  PeerBehind = 'peer_behind',
  HeadsLacking = 'heads_lacking',
  Debounced = 'debounced',
  DivergentTransient = 'divergent_transient',
  DivergentPersistent = 'divergent_persistent',
  Recovered = 'recovered',
  UnknownContext = 'unknown_context',
  Malformed = 'malformed',
}

export interface HashHeartbeatDeps {
  states: StateStore;
  stateSync: StateSyncStore;
  redis: () => Redis;
  js: () => JetStreamClient;
  busMetrics: BusMetrics;
  catalog: Catalog;
  metrics: NodeManagerMetrics;
  logger: Logger;
}

/**
 * A peer's HashHeartbeat. Equal roots → nothing, whatever the heads. Same heads but
 * another root → re-read our live root first (the cached one may lag); still different → count it,
 * and escalate to a sync only when the same pair of roots was seen twice from that peer (a transient
 * difference mid-apply is normal). Different heads and roots → if the peer has heads we lack, ask for
 * a sync, at most once per 25 s per context; if we have all its heads it is behind, and that is its
 * business. The bookkeeping lives in Redis keys that expire (shared by node-manager replicas).
 */
export async function handleHashHeartbeat(
  deps: HashHeartbeatDeps,
  heartbeat: wire.HashHeartbeat,
  gossip: bus.GossipMessage,
): Promise<void> {
  const outcome = await judge(deps, heartbeat, gossip.sourcePeer);
  deps.metrics.heartbeats.inc({ outcome });
}

async function judge(deps: HashHeartbeatDeps, hb: wire.HashHeartbeat, peer: string): Promise<HeartbeatOutcome> {
  if (hb.contextId.length !== ID_BYTES || hb.rootHash.length !== ID_BYTES || hb.dagHeads.length > 256) {
    return HeartbeatOutcome.Malformed;
  }
  const contextId = Buffer.from(hb.contextId);
  const ours = await deps.states.context(contextId);
  if (!ours?.initialized) return HeartbeatOutcome.UnknownContext;
  const context = toBase58(contextId);
  const theirRoot = Buffer.from(hb.rootHash);
  const theirHeads = hb.dagHeads.map((h) => Buffer.from(h));
  // Equal roots are equal state, but not always equal history: a delta whose writes were all
  // overwritten changes no root, and a node that never gets it stays behind for good.
  if (ours.rootHash.equals(theirRoot)) {
    return (await lacksAnyHead(deps, contextId, ours.heads, theirHeads))
      ? requestBehindSync(deps, contextId, peer)
      : HeartbeatOutcome.InSync;
  }

  const sameHeads = sameIdSet(ours.heads, theirHeads);
  const streakKey = deps.catalog.redis.syncDivergence(context, peer);
  if (sameHeads) {
    const live = (await deps.stateSync.liveRoot(contextId)) ?? ours.rootHash;
    if (live.equals(theirRoot)) {
      await deps.redis().del(streakKey);
      return HeartbeatOutcome.Recovered;
    }
    deps.metrics.rootDivergences.inc();
    const mark = `${live.toString('hex')}:${theirRoot.toString('hex')}`;
    const previous = await deps.redis().get(streakKey);
    const count = previous?.startsWith(`${mark}:`) ? Number(previous.slice(mark.length + 1)) + 1 : 1;
    await deps.redis().set(streakKey, `${mark}:${count}`, 'PX', HEARTBEAT_STATE_TTL_MS);
    if (count < DIVERGENCE_PERSIST_THRESHOLD) {
      deps.logger.warn(
        { context, peer, ours: toBase58(live), theirs: toBase58(theirRoot), count },
        'Transient root divergence',
      );
      return HeartbeatOutcome.DivergentTransient;
    }
    deps.logger.error(
      { context, peer, ours: toBase58(live), theirs: toBase58(theirRoot), count },
      'Persistent root divergence with identical DAG heads',
    );
    if (count === DIVERGENCE_PERSIST_THRESHOLD)
      await queue(deps, contextId, bus.SyncReason.SYNC_REASON_HEARTBEAT, peer);
    return HeartbeatOutcome.DivergentPersistent;
  }
  await deps.redis().del(streakKey);
  if (!(await lacksAnyHead(deps, contextId, ours.heads, theirHeads))) return HeartbeatOutcome.PeerBehind;
  return requestBehindSync(deps, contextId, peer);
}

/** Whether the peer names a head (other than one of ours) we never saw or hold only as pending. */
async function lacksAnyHead(
  deps: HashHeartbeatDeps,
  contextId: Buffer,
  ourHeads: readonly Buffer[],
  heads: readonly Buffer[],
): Promise<boolean> {
  for (const head of heads) {
    if (isZeroId(head) || ourHeads.some((h) => h.equals(head))) continue;
    if (!(await deps.states.hasDelta(contextId, head)) || (await deps.states.isPending(contextId, head))) return true;
  }
  return false;
}

/** A sync with a peer that has heads we lack, at most once per BEHIND_SYNC_DEBOUNCE_MS per context. */
async function requestBehindSync(deps: HashHeartbeatDeps, contextId: Buffer, peer: string): Promise<HeartbeatOutcome> {
  const allowed = await deps
    .redis()
    .set(deps.catalog.redis.syncBehindDebounce(toBase58(contextId)), peer, 'PX', BEHIND_SYNC_DEBOUNCE_MS, 'NX');
  if (!allowed) return HeartbeatOutcome.Debounced;
  await queue(deps, contextId, bus.SyncReason.SYNC_REASON_HEARTBEAT, peer);
  return HeartbeatOutcome.HeadsLacking;
}

async function queue(deps: HashHeartbeatDeps, contextId: Buffer, reason: bus.SyncReason, peer: string): Promise<void> {
  await queueSync(deps, { contextId, reason, peer, forced: false }, String(Date.now()));
}

import { ingestGroupOps, type GovernanceDeps, type IngestOutcome, type SyncClient } from '@cnode/context-core';
import { ID_BYTES, MAX_GROUP_OP_PARENTS, sha256 } from '@cnode/primitives';
import { wire, type bus } from '@cnode/proto';
import type { Logger } from '@cnode/runtime';
import type { GroupStore, IdentityRepo } from '@cnode/store';
import type { NodeManagerMetrics } from '../metrics.js';

/** Most ops one GroupGovernanceDelta may carry; a larger batch is refused whole. */
export const MAX_GOVERNANCE_DELTA_OPS = 1_000;

export interface GroupGossipDeps extends GovernanceDeps {
  groups: GroupStore;
  identities: IdentityRepo;
  sync: SyncClient;
  metrics: NodeManagerMetrics;
  logger: Logger;
  /** Re-evaluates subscriptions of a group (after a mutation notification). */
  reconcile(groupId: Buffer): Promise<void>;
}

function count(deps: GroupGossipDeps, outcomes: Record<IngestOutcome, number>): void {
  for (const [outcome, n] of Object.entries(outcomes)) if (n > 0) deps.metrics.groupOps.inc({ outcome }, n);
}

/**
 * Catches up a group's governance from a peer: the ops we lack, asked with our heads. Spaced per
 * (group, peer) by the sync client; needs one of our identities to be a member (to prove it).
 */
async function catchUpFrom(deps: GroupGossipDeps, groupId: Buffer, peer: string, why: string): Promise<void> {
  const me = await deps.identities.ownedInGroup(groupId);
  if (!me || !peer) return;
  const result = await deps.sync.catchUpGovernance(groupId, peer, me);
  deps.metrics.governanceCatchUps.inc({ outcome: result ? 'ok' : 'failed_or_spaced', trigger: why });
  if (result) count(deps, result.outcomes);
}

/**
 * Gossiped governance ops (a SignedGroupOpV1, or the ops of a GroupGovernanceDelta): verified,
 * stored in the group DAG, applied when their parents are, each authorised at its own cut. Ops
 * whose parents we miss (we joined after they were gossiped, or gossip lost them) trigger a
 * governance catch-up from the peer that sent them.
 */
export async function handleGroupOpsGossip(
  deps: GroupGossipDeps,
  ops: readonly wire.SignedGroupOpV1[],
  gossip: bus.GossipMessage,
): Promise<void> {
  const { outcomes } = await ingestGroupOps(deps, ops);
  count(deps, outcomes);
  if (outcomes.invalid > 0 || outcomes.unauthorized > 0 || outcomes.replayed_nonce > 0) {
    deps.logger.warn({ source: gossip.sourcePeer, topic: gossip.topic, outcomes }, 'Refused a gossiped group op');
  }
  if (outcomes.pending === 0 || ops.length === 0) return;
  await catchUpFrom(deps, Buffer.from(ops[0]!.groupId), gossip.sourcePeer, 'pending_op');
}

/** A GroupGovernanceDelta: its id must be the hash of its payload, its payload a bounded batch of ops. */
export async function handleGovernanceDelta(
  deps: GroupGossipDeps,
  delta: wire.GroupGovernanceDelta,
  gossip: bus.GossipMessage,
): Promise<void> {
  let batch: wire.GroupOpBatch | undefined;
  if (delta.deltaId.length === ID_BYTES && sha256(delta.payload).equals(Buffer.from(delta.deltaId))) {
    try {
      batch = wire.GroupOpBatch.decode(delta.payload);
    } catch {
      batch = undefined;
    }
  }
  const sameGroup = batch?.ops.every((op) => Buffer.from(op.groupId).equals(Buffer.from(delta.groupId)));
  if (!batch || !sameGroup || batch.ops.length > MAX_GOVERNANCE_DELTA_OPS) {
    deps.metrics.groupOps.inc({ outcome: 'invalid' });
    deps.logger.warn({ source: gossip.sourcePeer, topic: gossip.topic }, 'Refused a malformed GroupGovernanceDelta');
    return;
  }
  await handleGroupOpsGossip(deps, batch.ops, gossip);
}

/**
 * A GroupStateHeartbeat (a peer's governance DAG heads): heads we have not applied mean we are
 * behind, so the ops we lack are fetched from that peer. Counted by outcome.
 */
export async function handleGroupHeartbeat(
  deps: GroupGossipDeps,
  heartbeat: wire.GroupStateHeartbeat,
  gossip: bus.GossipMessage,
): Promise<void> {
  const heads = heartbeat.dagHeads.map((h) => Buffer.from(h));
  if (
    heartbeat.groupId.length !== ID_BYTES ||
    heads.length > MAX_GROUP_OP_PARENTS ||
    heads.some((h) => h.length !== ID_BYTES)
  ) {
    deps.metrics.groupHeartbeats.inc({ outcome: 'malformed' });
    return;
  }
  const groupId = Buffer.from(heartbeat.groupId);
  const known = await deps.groups.appliedAmong(groupId, heads);
  if (known.length === heads.length) {
    deps.metrics.groupHeartbeats.inc({ outcome: 'in_sync_or_ahead' });
    return;
  }
  deps.metrics.groupHeartbeats.inc({ outcome: 'heads_lacking' });
  deps.logger.debug(
    { group: groupId.toString('hex'), peer: gossip.sourcePeer, lacking: heads.length - known.length },
    'A group heartbeat shows governance heads we lack',
  );
  await catchUpFrom(deps, groupId, gossip.sourcePeer, 'heartbeat');
}

/**
 * A GroupMutationNotification: when it names an op we have not applied, catch up from the sender
 * first; then re-evaluate the group's subscriptions.
 */
export async function handleGroupMutation(
  deps: GroupGossipDeps,
  note: wire.GroupMutationNotification,
  gossip: bus.GossipMessage,
): Promise<void> {
  if (note.groupId.length !== ID_BYTES || note.opId.length !== ID_BYTES) {
    deps.metrics.groupMutations.inc({ outcome: 'malformed' });
    return;
  }
  const groupId = Buffer.from(note.groupId);
  const [known] = await deps.groups.appliedAmong(groupId, [Buffer.from(note.opId)]);
  if (!known) await catchUpFrom(deps, groupId, gossip.sourcePeer, 'mutation');
  await deps.reconcile(groupId);
  deps.metrics.groupMutations.inc({ outcome: known ? 'known' : 'caught_up' });
}

/** A peer subscribed to a group topic of ours: sync the group's governance with it (as upstream does on group topics). */
export async function handleGroupPeerSubscribed(deps: GroupGossipDeps, groupId: Buffer, peer: string): Promise<void> {
  await catchUpFrom(deps, groupId, peer, 'peer_subscribed');
}

import { ingestGroupOps, type GovernanceDeps, type SyncClient } from '@cnode/context-core';
import type { Identity } from '@cnode/primitives';
import type { bus, wire } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import type { StateStore } from '@cnode/store';
import type { NodeManagerMetrics } from '../metrics.js';

export interface GroupOpGossipDeps extends GovernanceDeps {
  states: StateStore;
  sync: SyncClient;
  metrics: NodeManagerMetrics;
}

/** One of our identities that is a member of the group (to prove membership to a peer). */
async function memberOf(deps: GroupOpGossipDeps, groupId: Buffer): Promise<Identity | undefined> {
  for (const ctx of await deps.states.listContexts()) {
    if (!ctx.groupId?.equals(groupId)) continue;
    for (const identity of await deps.identities.owned(ctx.id)) {
      if (await deps.groups.isMember(groupId, identity.publicKey)) return identity;
    }
  }
  return undefined;
}

/**
 * A gossiped governance op: verified, stored in the group DAG, applied when its parents are. An op
 * whose parents we miss (we joined after they were gossiped, or gossip lost them) triggers a
 * governance catch-up from the peer that sent it: its applied ops, ingested in order.
 */
export async function handleGroupOpGossip(
  deps: GroupOpGossipDeps,
  op: wire.SignedGroupOpV1,
  gossip: bus.GossipMessage,
): Promise<void> {
  const { outcomes } = await ingestGroupOps(deps, [op]);
  count(deps, outcomes);
  if (outcomes.invalid > 0 || outcomes.unauthorized > 0) {
    deps.logger.warn({ source: gossip.sourcePeer, topic: gossip.topic, outcomes }, 'Refused a gossiped group op');
  }
  if (outcomes.pending === 0 || !gossip.sourcePeer) return;
  const groupId = Buffer.from(op.groupId);
  const me = await memberOf(deps, groupId);
  if (!me) return;
  try {
    const answer = await deps.sync.fetchGroupOps(gossip.sourcePeer, me, groupId);
    const caughtUp = await ingestGroupOps(deps, answer.ops);
    count(deps, caughtUp.outcomes);
    deps.metrics.governanceCatchUps.inc({ outcome: 'ok' });
  } catch (err) {
    deps.metrics.governanceCatchUps.inc({ outcome: 'failed' });
    deps.logger.warn({ peer: gossip.sourcePeer, err: errorMessage(err) }, 'Governance catch-up failed');
  }
}

function count(deps: GroupOpGossipDeps, outcomes: Record<string, number>): void {
  for (const [outcome, n] of Object.entries(outcomes)) if (n > 0) deps.metrics.groupOps.inc({ outcome }, n);
}

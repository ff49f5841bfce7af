import { ingestGroupOps, type GovernanceDeps } from '@cnode/context-core';
import type { bus, wire } from '@cnode/proto';
import type { NodeManagerMetrics } from '../metrics.js';

/** A gossiped governance op: verified, stored in the group DAG, applied when its parents are. */
export async function handleGroupOpGossip(
  deps: GovernanceDeps & { metrics: NodeManagerMetrics },
  op: wire.SignedGroupOpV1,
  gossip: bus.GossipMessage,
): Promise<void> {
  const { outcomes } = await ingestGroupOps(deps, [op]);
  for (const [outcome, n] of Object.entries(outcomes)) if (n > 0) deps.metrics.groupOps.inc({ outcome }, n);
  if (outcomes.invalid > 0 || outcomes.unauthorized > 0) {
    deps.logger.warn({ source: gossip.sourcePeer, topic: gossip.topic, outcomes }, 'Refused a gossiped group op');
  }
}

import { contextTopic, requestGovernanceDrain } from '@cnode/context-core';
import { toBase58 } from '@cnode/primitives';
import { bus } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import { PRE_SYNC_GOVERNANCE_PEERS } from '../constants.js';
import type { DriverDeps } from './handle-sync-request.js';

/**
 * Before an interval sync of a context with governance-pending deltas:
 * pull the group's ops we lack from a few member peers (subscribers of the context, those that
 * proved membership recently first), then ask state-delta to drain the context's queue.
 */
export async function governanceBeforeIntervalSync(
  deps: DriverDeps,
  contextId: Buffer,
  groupId: Buffer,
): Promise<void> {
  const init = deps.initiator;
  if ((await init.pending.count(contextId)) === 0) return;
  const context = toBase58(contextId);
  try {
    const [me] = await init.identities.owned(contextId);
    if (me) {
      const subscribers = (await init.network.topicPeers(contextTopic(contextId))).subscribers;
      const members = await init
        .redis()
        .zrevrange(init.catalog.redis.memberPeers(groupId.toString('hex')), 0, -1)
        .catch(() => [] as string[]);
      const rank = new Map(members.map((p, i) => [p, i]));
      const peers = [...new Set(subscribers)]
        .sort((a, b) => (rank.get(a) ?? Number.MAX_SAFE_INTEGER) - (rank.get(b) ?? Number.MAX_SAFE_INTEGER))
        .slice(0, PRE_SYNC_GOVERNANCE_PEERS);
      for (const peer of peers) {
        const result = await init.sync.catchUpGovernance(groupId, peer, me);
        if (result && result.applied.length > 0) break;
      }
    }
    await requestGovernanceDrain(deps.bus(), {
      groupId,
      contextId,
      trigger: bus.DrainTrigger.DRAIN_TRIGGER_INTERVAL_SYNC,
    });
    deps.metrics.preSyncDrains.inc({ outcome: 'requested' });
  } catch (err) {
    deps.metrics.preSyncDrains.inc({ outcome: 'failed' });
    deps.logger.warn({ context, err: errorMessage(err) }, 'Governance step before the interval sync failed');
  }
}

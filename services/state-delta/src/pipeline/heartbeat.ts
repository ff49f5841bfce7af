import type { NetworkClient } from '@cnode/bus';
import { contextTopic } from '@cnode/context-core';
import { wire } from '@cnode/proto';
import { errorMessage, type Logger } from '@cnode/runtime';
import { HEARTBEAT_MIN_INTERVAL_MS, HEARTBEAT_TRACKED_CONTEXTS } from '../constants.js';
import type { StateDeltaMetrics } from '../metrics.js';

/**
 * Publishes a context's HashHeartbeat (root hash and DAG heads) after remote deltas apply, so peers
 * that missed something notice the divergence. Debounced per context: a burst of deltas yields one
 * heartbeat per interval, carrying the state after the burst.
 */
export class HeartbeatPublisher {
  private readonly lastSent = new Map<string, number>();

  constructor(
    private readonly deps: { network: Pick<NetworkClient, 'publish'>; metrics: StateDeltaMetrics; logger: Logger },
  ) {}

  afterApply(contextId: Buffer, rootHash: Buffer, heads: Buffer[]): void {
    const topic = contextTopic(contextId);
    const now = Date.now();
    if (now - (this.lastSent.get(topic) ?? 0) < HEARTBEAT_MIN_INTERVAL_MS) {
      this.deps.metrics.heartbeats.inc({ outcome: 'debounced' });
      return;
    }
    this.lastSent.delete(topic);
    this.lastSent.set(topic, now);
    if (this.lastSent.size > HEARTBEAT_TRACKED_CONTEXTS) this.lastSent.delete(this.lastSent.keys().next().value!);
    const data = wire.BroadcastMessage.encode({
      payload: { $case: 'hashHeartbeat', hashHeartbeat: { contextId, rootHash, dagHeads: heads } },
    }).finish();
    this.deps.network.publish(topic, data).then(
      () => this.deps.metrics.heartbeats.inc({ outcome: 'sent' }),
      (err: unknown) => {
        this.deps.metrics.heartbeats.inc({ outcome: 'failed' });
        this.deps.logger.debug({ context: topic, err: errorMessage(err) }, 'Heartbeat not published');
      },
    );
  }
}

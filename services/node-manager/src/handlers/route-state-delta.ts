import { isStreamFullError, publishToStream, type BusMetrics, type Catalog } from '@cnode/bus';
import { ID_BYTES, sha256, toBase58 } from '@cnode/primitives';
import { bus, type wire } from '@cnode/proto';
import { ProcessingAction, ProcessingError, type Logger } from '@cnode/runtime';
import type { JetStreamClient } from '@nats-io/jetstream';
import { NodeManagerErrorCode } from '../errors.js';
import type { NodeManagerMetrics } from '../metrics.js';

export interface RouteStateDeltaDeps {
  js: () => JetStreamClient;
  catalog: Catalog;
  busMetrics: BusMetrics;
  metrics: NodeManagerMetrics;
  logger: Logger;
}

/**
 * A gossiped StateDelta goes to the bounded STATE_DELTA mailbox, one subject per context, with a
 * hash of the gossip bytes as Nats-Msg-Id (an exact repeat inside the window is stored once). When the mailbox is full the
 * delta is dropped, counted and logged: as upstream, heartbeats and parent fetches repair the gap.
 */
export async function routeStateDelta(
  deps: RouteStateDeltaDeps,
  delta: wire.StateDelta,
  gossip: bus.GossipMessage,
): Promise<void> {
  if (delta.contextId.length !== ID_BYTES || delta.deltaId.length !== ID_BYTES) {
    throw new ProcessingError(
      ProcessingAction.Reject,
      NodeManagerErrorCode.MalformedBroadcast,
      'StateDelta ids are malformed',
      {
        meta: { source: gossip.sourcePeer },
      },
    );
  }
  const envelope: bus.StateDeltaReceived = {
    sourcePeer: gossip.sourcePeer,
    messageId: gossip.messageId,
    delta,
    receivedAtMs: BigInt(Date.now()),
  };
  const context = toBase58(delta.contextId);
  try {
    await publishToStream(
      { js: deps.js(), metrics: deps.busMetrics },
      deps.catalog.streams.stateDelta,
      deps.catalog.subjects.stateDeltaFor(context),
      bus.StateDeltaReceived.encode(envelope).finish(),
      // By content, not by delta id: a forged copy of a delta (same id, bad signature) must not
      // shadow the real one inside the broker's duplicate window.
      { msgId: sha256(gossip.data).toString('hex') },
    );
  } catch (err) {
    if (isStreamFullError(err)) {
      deps.metrics.stateDeltaDropped.inc({ reason: 'queue_full' });
      deps.logger.warn(
        { context, delta: toBase58(delta.deltaId), source: gossip.sourcePeer },
        'STATE_DELTA is full: dropped a delta (heartbeats and parent fetches will repair it)',
      );
      return;
    }
    throw err;
  }
}

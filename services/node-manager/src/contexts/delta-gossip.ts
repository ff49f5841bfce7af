import type { NetworkClient } from '@cnode/bus';
import { contextTopic } from '@cnode/context-core';
import { GOSSIP_MAX_MESSAGE_BYTES, toBase58 } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { errorMessage, type Counter, type Logger } from '@cnode/runtime';

/** Room left in a gossip message for the BroadcastMessage and batch framing around the deltas. */
const FRAMING_BYTES = 64;

export interface DeltaGossipDeps {
  network: NetworkClient;
  metrics: { gossipPublishFailures: Counter<'kind'>; gossipDeltaMessages: Counter<'variant'> };
  logger: Logger;
}

/**
 * The gossip messages that carry a context's freshly committed deltas, in order: one `StateDelta`
 * when alone, else `StateDeltaBatch`es filled up to the gossip message limit. A delta too large to
 * share a message travels alone (and is refused by the network service if it exceeds the limit
 * even so: it stays committed, and peers fetch it on catch-up).
 */
export function deltaGossipMessages(
  deltas: readonly wire.StateDelta[],
): { variant: 'state_delta' | 'state_delta_batch'; bytes: Uint8Array }[] {
  const groups: wire.StateDelta[][] = [];
  let current: wire.StateDelta[] = [];
  let size = FRAMING_BYTES;
  for (const delta of deltas) {
    // A repeated field costs its tag and length prefix beside the delta's bytes.
    const bytes = wire.StateDelta.encode(delta).finish().length + 6;
    if (current.length > 0 && size + bytes > GOSSIP_MAX_MESSAGE_BYTES) {
      groups.push(current);
      current = [];
      size = FRAMING_BYTES;
    }
    current.push(delta);
    size += bytes;
  }
  if (current.length > 0) groups.push(current);
  return groups.map((group) =>
    group.length === 1
      ? {
          variant: 'state_delta',
          bytes: wire.BroadcastMessage.encode({ payload: { $case: 'stateDelta', stateDelta: group[0]! } }).finish(),
        }
      : {
          variant: 'state_delta_batch',
          bytes: wire.BroadcastMessage.encode({
            payload: { $case: 'stateDeltaBatch', stateDeltaBatch: { deltas: group } },
          }).finish(),
        },
  );
}

/**
 * Gossips a context's committed deltas on its topic. Never throws: a failed publish is counted and
 * logged, and the deltas (committed) reach peers by catch-up.
 */
export async function gossipDeltas(
  deps: DeltaGossipDeps,
  contextId: Buffer,
  deltas: readonly wire.StateDelta[],
): Promise<void> {
  const topic = contextTopic(contextId);
  for (const { variant, bytes } of deltaGossipMessages(deltas)) {
    deps.metrics.gossipDeltaMessages.inc({ variant });
    try {
      const res = await deps.network.publish(topic, bytes);
      if (res.noPeers) deps.metrics.gossipPublishFailures.inc({ kind: 'state_delta_no_peers' });
    } catch (err) {
      deps.metrics.gossipPublishFailures.inc({ kind: 'state_delta' });
      deps.logger.warn(
        { context: toBase58(contextId), deltas: deltas.length, err: errorMessage(err) },
        'Deltas committed but not gossiped; peers will fetch them on catch-up',
      );
    }
  }
}

import { fromBase58, ID_BYTES } from '@cnode/primitives';
import { bus } from '@cnode/proto';
import type { StateStore } from '@cnode/store';
import { queueSync, type QueueSyncDeps } from '../contexts/queue-sync.js';

/** Repeats of one peer subscribing to one context collapse inside this window. */
const PEER_SUBSCRIBED_DEDUP_MS = 5_000;

export type PeerSubscribedDeps = QueueSyncDeps & {
  states: StateStore;
  /** A peer subscribed to a group topic: sync the group's governance with it. */
  groupSync(groupId: Buffer, peer: string): Promise<void>;
};

const GROUP_TOPIC = /^group\/([0-9a-f]{64})$/;

/**
 * A peer subscribed to the topic of a context we host: sync with that peer now (a
 * restarted or partitioned node shows up this way). On a group topic, sync the group's governance with
 * it. Contexts we do not host are ignored.
 */
export async function handlePeerSubscribed(deps: PeerSubscribedDeps, event: bus.PeerSubscribed): Promise<void> {
  const group = GROUP_TOPIC.exec(event.topic);
  if (group) return deps.groupSync(Buffer.from(group[1]!, 'hex'), event.peer);
  let contextId: Buffer;
  try {
    contextId = Buffer.from(fromBase58(event.topic));
  } catch {
    return;
  }
  if (contextId.length !== ID_BYTES || !(await deps.states.context(contextId))) return;
  await queueSync(
    deps,
    { contextId, reason: bus.SyncReason.SYNC_REASON_PEER_SUBSCRIBED, peer: event.peer, forced: true },
    String(Math.floor(Date.now() / PEER_SUBSCRIBED_DEDUP_MS)),
  );
}

import { bus, wire } from '@cnode/proto';
import { ProcessingAction, ProcessingError, type Logger } from '@cnode/runtime';
import { NodeManagerErrorCode } from '../errors.js';
import type { NodeManagerMetrics } from '../metrics.js';

/** Where the dispatch sends what other modules handle (each in its own file). */
export interface NetworkEventRoutes {
  /** A state delta, or the deltas of a batch, on a topic that is not a context's (the network service forwards those). */
  stateDeltas(deltas: wire.StateDelta[], gossip: bus.GossipMessage): Promise<void>;
  groupOp(op: wire.SignedGroupOpV1, gossip: bus.GossipMessage): Promise<void>;
  groupGovernanceDelta(delta: wire.GroupGovernanceDelta, gossip: bus.GossipMessage): Promise<void>;
  groupHeartbeat(heartbeat: wire.GroupStateHeartbeat, gossip: bus.GossipMessage): Promise<void>;
  groupMutation(note: wire.GroupMutationNotification, gossip: bus.GossipMessage): Promise<void>;
  streamOpened(opened: bus.StreamOpened): Promise<void>;
  hashHeartbeat(heartbeat: wire.HashHeartbeat, gossip: bus.GossipMessage): Promise<void>;
  peerSubscribed(event: bus.PeerSubscribed): Promise<void>;
  /** A specialized-node discovery (on the invite topic): a read-only node answers it. */
  specializedDiscovery(discovery: wire.SpecializedNodeDiscovery, gossip: bus.GossipMessage): Promise<void>;
  /** A specialized node's join confirmation (on a context topic): the inviter closes its invite. */
  specializedConfirmation(confirmation: wire.SpecializedNodeJoinConfirmation, gossip: bus.GossipMessage): Promise<void>;
}

export interface NetworkEventDeps {
  metrics: NodeManagerMetrics;
  logger: Logger;
  routes: NetworkEventRoutes;
}

/** Payload decoder of the NET_EVENTS consumer; a throw marks the message as poison. */
export function decodeNetworkEvent(data: Uint8Array): bus.NetworkEvent {
  return bus.NetworkEvent.decode(data);
}

/**
 * Dispatch of one network event (upstream's Handler<NetworkEvent>): routes by variant and counts it.
 * This file only switches; each kind's behaviour lives in its own handler module as it lands.
 */
export async function handleNetworkEvent(deps: NetworkEventDeps, message: bus.NetworkEvent): Promise<void> {
  const event = message.event;
  if (!event) {
    throw new ProcessingError(
      ProcessingAction.Reject,
      NodeManagerErrorCode.EmptyNetworkEvent,
      'network event has no variant',
    );
  }
  deps.metrics.networkEvents.inc({ kind: event.$case });
  switch (event.$case) {
    case 'gossipMessage':
      return dispatchBroadcast(deps, event.gossipMessage);
    case 'streamOpened':
      return deps.routes.streamOpened(event.streamOpened);
    case 'peerConnected':
      deps.logger.debug({ peer: event.peerConnected.peer }, 'Peer connected');
      return;
    case 'peerDisconnected':
      deps.logger.debug({ peer: event.peerDisconnected.peer }, 'Peer disconnected');
      return;
    case 'peerSubscribed':
      return deps.routes.peerSubscribed(event.peerSubscribed);
    case 'peerUnsubscribed':
      deps.logger.debug({ kind: event.$case }, 'Network event received');
      return;
  }
}

async function dispatchBroadcast(deps: NetworkEventDeps, gossip: bus.GossipMessage): Promise<void> {
  let broadcast: wire.BroadcastMessage;
  try {
    broadcast = wire.BroadcastMessage.decode(gossip.data);
  } catch (err) {
    throw new ProcessingError(
      ProcessingAction.Reject,
      NodeManagerErrorCode.MalformedBroadcast,
      'gossip is not a BroadcastMessage',
      {
        cause: err,
        meta: { topic: gossip.topic, source: gossip.sourcePeer },
      },
    );
  }
  const payload = broadcast.payload;
  if (!payload) {
    throw new ProcessingError(
      ProcessingAction.Reject,
      NodeManagerErrorCode.UnknownBroadcastVariant,
      'BroadcastMessage has no known variant',
      {
        meta: { topic: gossip.topic, source: gossip.sourcePeer },
      },
    );
  }
  deps.metrics.broadcastMessages.inc({ variant: payload.$case });
  switch (payload.$case) {
    case 'stateDelta':
      return deps.routes.stateDeltas([payload.stateDelta], gossip);
    case 'stateDeltaBatch':
      return deps.routes.stateDeltas(payload.stateDeltaBatch.deltas, gossip);
    case 'signedGroupOp':
      return deps.routes.groupOp(payload.signedGroupOp, gossip);
    case 'hashHeartbeat':
      return deps.routes.hashHeartbeat(payload.hashHeartbeat, gossip);
    case 'groupGovernanceDelta':
      return deps.routes.groupGovernanceDelta(payload.groupGovernanceDelta, gossip);
    case 'groupStateHeartbeat':
      return deps.routes.groupHeartbeat(payload.groupStateHeartbeat, gossip);
    case 'groupMutationNotification':
      return deps.routes.groupMutation(payload.groupMutationNotification, gossip);
    case 'specializedNodeDiscovery':
      return deps.routes.specializedDiscovery(payload.specializedNodeDiscovery, gossip);
    case 'specializedNodeJoinConfirmation':
      return deps.routes.specializedConfirmation(payload.specializedNodeJoinConfirmation, gossip);
  }
}

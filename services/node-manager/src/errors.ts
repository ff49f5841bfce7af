import { CodedError } from '@cnode/runtime';

export enum NodeManagerErrorCode {
  /** A network event carried no event variant. */
  EmptyNetworkEvent = 'NM_EMPTY_NETWORK_EVENT',
  /** Gossip bytes that are not a BroadcastMessage. */
  MalformedBroadcast = 'NM_MALFORMED_BROADCAST',
  /** A BroadcastMessage with no payload variant we know. */
  UnknownBroadcastVariant = 'NM_UNKNOWN_BROADCAST_VARIANT',
  /** A StateDelta gossiped on a topic that is not a context's (the network routes those itself). */
  StateDeltaOffTopic = 'NM_STATE_DELTA_OFF_TOPIC',
  AdminTokenUnavailable = 'NM_ADMIN_TOKEN_UNAVAILABLE',
}

export class NodeManagerError extends CodedError<NodeManagerErrorCode> {}

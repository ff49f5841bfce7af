import { CodedError } from '@cnode/runtime';

export enum NetworkErrorCode {
  /** The network service needs NODE_MASTER_KEY to seal and open the node's libp2p key. */
  NoMasterKey = 'NETWORK_NO_MASTER_KEY',
  /** The stored identity does not open with the configured master key. */
  IdentityUnreadable = 'NETWORK_IDENTITY_UNREADABLE',
  /** A topic that is empty, too long or not printable ASCII. */
  BadTopic = 'NETWORK_BAD_TOPIC',
  /** A gossip message above the size cap. */
  MessageTooLarge = 'NETWORK_MESSAGE_TOO_LARGE',
  /** A command whose arguments do not parse (peer id, multiaddr, key). */
  BadArgument = 'NETWORK_BAD_ARGUMENT',
  /** Streams may only be opened on the relayed protocols. */
  ProtocolNotAllowed = 'NETWORK_PROTOCOL_NOT_ALLOWED',
  TooManyStreams = 'NETWORK_TOO_MANY_STREAMS',
  StreamIdInUse = 'NETWORK_STREAM_ID_IN_USE',
  DialFailed = 'NETWORK_DIAL_FAILED',
  DhtFailed = 'NETWORK_DHT_FAILED',
  NotRunning = 'NETWORK_NOT_RUNNING',
}

export class NetworkError extends CodedError<NetworkErrorCode> {}

import { CodedError } from '@cnode/runtime';

export enum NetworkErrorCode {
  /** The network service needs NODE_MASTER_KEY to seal and open the node's libp2p key. */
  NoMasterKey = 'NETWORK_NO_MASTER_KEY',
  /** The stored identity does not open with the configured master key. */
  IdentityUnreadable = 'NETWORK_IDENTITY_UNREADABLE',
}

export class NetworkError extends CodedError<NetworkErrorCode> {}

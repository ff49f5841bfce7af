import { CodedError } from '@cnode/runtime';

/** Failures of the context domain shared by node-manager, state-delta and sync. */
export enum ContextErrorCode {
  /** The peer answered a sync request with a StreamError. */
  PeerRefused = 'SYNC_PEER_REFUSED',
  /** The peer's answer did not decode, was oversize, or was not the answer asked for. */
  BadAnswer = 'SYNC_BAD_ANSWER',
  /** The peer's first answer did not prove a member identity of the group (only members serve state). */
  PeerNotMember = 'SYNC_PEER_NOT_MEMBER',
  /** No answer within the request timeout. */
  Timeout = 'SYNC_TIMEOUT',
  /** The session passed its deadline (however busy the peer kept it). */
  Deadline = 'SYNC_DEADLINE',
  /** This node holds no key of the group and no peer shared one. */
  NoGroupKey = 'CONTEXT_NO_GROUP_KEY',
  /** None of this node's identities is a member of the context. */
  NoMemberIdentity = 'CONTEXT_NO_MEMBER_IDENTITY',
}

export class ContextError extends CodedError<ContextErrorCode> {}

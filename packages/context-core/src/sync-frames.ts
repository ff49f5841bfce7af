import { wire } from '@cnode/proto';

/** Codes a sync responder answers with in a StreamError (stable: peers and metrics see them). */
export enum SyncRefusal {
  Malformed = 'malformed',
  NotMember = 'not_member',
  UnknownContext = 'unknown_context',
  Unsupported = 'unsupported',
  Internal = 'internal',
  /** The responder has no state for the context yet (benign for the initiator: try another peer). */
  NotMaterialized = 'not_materialized',
  /** A resumed snapshot asked for a boundary the responder's state moved past. */
  BoundaryMoved = 'boundary_moved',
  /** The session asked more than a session may. */
  TooManyRequests = 'too_many_requests',
  /** A request in the session named another context or group than the session's. */
  ScopeChanged = 'scope_changed',
}

export function encodeSyncMessage(message: wire.SyncStreamMessage): Uint8Array {
  return wire.SyncStreamMessage.encode(message).finish();
}

/** Decodes one frame; throws on bytes that are not a SyncStreamMessage. */
export function decodeSyncMessage(frame: Uint8Array): wire.SyncStreamMessage {
  return wire.SyncStreamMessage.decode(frame);
}

export function syncError(code: SyncRefusal, message: string): wire.SyncStreamMessage {
  return { payload: { $case: 'error', error: { code, message } } };
}

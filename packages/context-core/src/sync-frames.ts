import { wire } from '@cnode/proto';

/** Codes a sync responder answers with in a StreamError (stable: peers and metrics see them). */
export enum SyncRefusal {
  Malformed = 'malformed',
  NotMember = 'not_member',
  UnknownContext = 'unknown_context',
  Unsupported = 'unsupported',
  Internal = 'internal',
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

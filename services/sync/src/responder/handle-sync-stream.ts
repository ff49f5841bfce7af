import { RelayedStream } from '@cnode/bus';
import { SyncRefusal, decodeSyncMessage, encodeSyncMessage, syncError } from '@cnode/context-core';
import { ID_BYTES, verifyMemberAuth } from '@cnode/primitives';
import { bus, type wire } from '@cnode/proto';
import { errorMessage, isCodedError } from '@cnode/runtime';
import { REQUEST_READ_TIMEOUT_MS } from '../constants.js';
import type { ResponderDeps } from './deps.js';
import { serveDagHeads } from './serve-dag-heads.js';
import { serveDeltaRequest } from './serve-delta-request.js';
import { serveGroupOps } from './serve-group-ops.js';

/** Payload decoder of the SYNC_STREAMS consumer. */
export function decodeStreamOpened(data: Uint8Array): bus.StreamOpened {
  return bus.StreamOpened.decode(data);
}

/**
 * Serves one inbound `/calimero/stream/pb/1` stream: attaches to its relay, reads one request,
 * checks that the requester proves a member identity of the group concerned (`peer_is_group_member`),
 * answers, and closes. Every outcome is counted; the stream is single-use, so failures are never
 * retried (the requester retries on its side).
 */
export async function handleSyncStream(deps: ResponderDeps, opened: bus.StreamOpened): Promise<void> {
  const stream = RelayedStream.accept(
    { nc: deps.nc(), catalog: deps.catalog, idleTimeoutMs: deps.idleTimeoutMs },
    opened,
  );
  const timer = setTimeout(() => stream.reset('request_timeout'), REQUEST_READ_TIMEOUT_MS);
  let kind = 'unknown';
  try {
    const frame = await stream.readFrame();
    clearTimeout(timer);
    let answer: wire.SyncStreamMessage;
    if (!frame) {
      answer = syncError(SyncRefusal.Malformed, 'no request');
    } else {
      let request: wire.SyncStreamMessage | undefined;
      try {
        request = decodeSyncMessage(frame);
      } catch {
        answer = syncError(SyncRefusal.Malformed, 'request does not decode');
      }
      kind = request?.payload?.$case ?? kind;
      answer ??= await respond(deps, request!, opened.peer);
    }
    const outcome = answer.payload?.$case === 'error' ? answer.payload.error.code : 'served';
    await stream.writeFrame(encodeSyncMessage(answer));
    await stream.closeWrite();
    deps.metrics.responderRequests.inc({ kind, outcome });
    // Wait for the requester's close so the stream ends cleanly (bounded by the idle timeout).
    await stream.readFrame().catch(() => undefined);
  } catch (err) {
    clearTimeout(timer);
    stream.reset();
    const outcome = isCodedError(err) && err.code.startsWith('BUS_') ? 'stream_failed' : SyncRefusal.Internal;
    deps.metrics.responderRequests.inc({ kind, outcome });
    deps.logger.warn({ peer: opened.peer, kind, err: errorMessage(err) }, 'Sync request not served');
  }
}

async function respond(
  deps: ResponderDeps,
  request: wire.SyncStreamMessage,
  peer: string,
): Promise<wire.SyncStreamMessage> {
  const payload = request.payload;
  switch (payload?.$case) {
    case 'deltaRequest':
    case 'dagHeadsRequest': {
      const contextId = Buffer.from(
        payload.$case === 'deltaRequest' ? payload.deltaRequest.contextId : payload.dagHeadsRequest.contextId,
      );
      if (contextId.length !== ID_BYTES) return syncError(SyncRefusal.Malformed, 'context id must be 32 bytes');
      const ctx = await deps.states.context(contextId);
      if (!ctx?.groupId) return syncError(SyncRefusal.UnknownContext, 'context not hosted here');
      const refusal = await checkMember(deps, request, contextId, ctx.groupId, peer);
      if (refusal) return refusal;
      return payload.$case === 'deltaRequest' ? serveDeltaRequest(deps, payload.deltaRequest) : serveDagHeads(ctx);
    }
    case 'groupOpsRequest': {
      const groupId = Buffer.from(payload.groupOpsRequest.groupId);
      if (groupId.length !== ID_BYTES) return syncError(SyncRefusal.Malformed, 'group id must be 32 bytes');
      const refusal = await checkMember(deps, request, groupId, groupId, peer);
      if (refusal) return refusal;
      return serveGroupOps(deps, groupId);
    }
    default:
      return syncError(SyncRefusal.Unsupported, `request ${payload?.$case ?? 'none'} is not served`);
  }
}

/** The requester's proof must verify for its peer id and name a member of the group. */
async function checkMember(
  deps: ResponderDeps,
  request: wire.SyncStreamMessage,
  scopeId: Buffer,
  groupId: Buffer,
  peer: string,
): Promise<wire.SyncStreamMessage | undefined> {
  let member: Buffer;
  try {
    member = verifyMemberAuth(request.auth, scopeId, peer);
  } catch (err) {
    return syncError(SyncRefusal.NotMember, (err as Error).message);
  }
  if (!(await deps.groups.isMember(groupId, member))) {
    return syncError(SyncRefusal.NotMember, 'the requester is not a member of the group');
  }
  return undefined;
}

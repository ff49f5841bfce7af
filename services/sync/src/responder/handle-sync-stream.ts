import { RelayedStream, type FrameStream } from '@cnode/bus';
import { SyncRefusal, decodeSyncMessage, encodeSyncMessage, isGroupMemberNow, syncError } from '@cnode/context-core';
import { ID_BYTES, MemberAuthRole, signMemberAuth, toBase58, verifyMemberAuth } from '@cnode/primitives';
import { bus, type wire } from '@cnode/proto';
import { errorMessage, isCodedError } from '@cnode/runtime';
import { MEMBER_PEERS_KEPT, REQUEST_READ_TIMEOUT_MS } from '../constants.js';
import type { AnswerWriter, ResponderDeps, SessionScope } from './deps.js';
import { serveDagHeads } from './serve-dag-heads.js';
import { serveDeltaRequest } from './serve-delta-request.js';
import { serveEntityPush } from './serve-entity-push.js';
import { serveGroupOps } from './serve-group-ops.js';
import { serveKeyShare } from './serve-key-share.js';
import { serveSnapshot } from './serve-snapshot.js';
import { serveTreeNodes } from './serve-tree-nodes.js';

/** Payload decoder of the SYNC_STREAMS consumer. */
export function decodeStreamOpened(data: Uint8Array): bus.StreamOpened {
  return bus.StreamOpened.decode(data);
}

type Payload = NonNullable<wire.SyncStreamMessage['payload']>;

/** Takes an inbound `/calimero/stream/pb/1` stream the network service announced, and serves it. */
export async function handleSyncStream(deps: ResponderDeps, opened: bus.StreamOpened): Promise<void> {
  const stream = RelayedStream.accept(
    { nc: deps.nc(), catalog: deps.catalog, idleTimeoutMs: deps.idleTimeoutMs },
    opened,
  );
  await serveSyncSession(deps, stream);
}

/**
 * Serves one inbound sync session: requests are read and answered one at a time
 * until the initiator closes its side. The first request must prove a member identity of the group
 * concerned (`peerIsGroupMember`); it binds the session to that context or group, and membership is
 * checked again on every request. A refusal ends the session; every request is counted by kind and
 * outcome. Our first answer other than a refusal carries our own member proof (initiators use
 * nothing a non-member says). A stream is never retried (the initiator retries on its side).
 */
export async function serveSyncSession(deps: ResponderDeps, stream: FrameStream): Promise<void> {
  let proven = false;
  const write: AnswerWriter = async (message) => {
    // The first answer that is not a refusal proves who we are.
    if (!proven && scope && message.payload?.$case !== 'error') {
      message = { ...message, auth: scope.proof };
      proven = true;
    }
    const frame = encodeSyncMessage(message);
    deps.metrics.responderBytes.inc(frame.length);
    await stream.writeFrame(frame);
  };
  let scope: SessionScope | undefined;
  let kind = 'unknown';
  // An initiator may think between requests (it applies what it got), but a session never outlives
  // its deadline: a peer cannot hold our permit by trickling requests.
  let expired = false;
  const deadline = setTimeout(() => {
    expired = true;
    stream.reset('deadline');
  }, deps.sessionDeadlineMs);
  try {
    for (let served = 0; ; served++) {
      const frame = await readRequest(stream, served === 0);
      if (!frame) break;
      kind = 'unknown';
      let request: wire.SyncStreamMessage | undefined;
      try {
        request = decodeSyncMessage(frame);
      } catch {
        // Not decodable: answered below as malformed.
      }
      kind = request?.payload?.$case ?? kind;
      let outcome: string;
      if (served >= deps.maxRequestsPerSession) {
        outcome = await refuse(
          write,
          SyncRefusal.TooManyRequests,
          `at most ${deps.maxRequestsPerSession} requests per session`,
        );
      } else if (!request?.payload) {
        outcome = await refuse(write, SyncRefusal.Malformed, 'request does not decode');
      } else {
        const admitted = await admit(deps, scope, request, stream.peer);
        if ('refusal' in admitted) {
          outcome = await refuse(write, admitted.refusal, admitted.message);
        } else {
          scope = admitted.scope;
          outcome = await serve(deps, scope, request.payload, write);
        }
      }
      deps.metrics.responderRequests.inc({ kind, outcome });
      if (outcome !== 'served') break;
    }
    await stream.closeWrite();
    // Wait for the initiator's close so the stream ends cleanly (bounded by the idle timeout).
    await stream.readFrame().catch(() => undefined);
  } catch (err) {
    stream.reset();
    const outcome = expired
      ? 'deadline'
      : isCodedError(err) && err.code.startsWith('BUS_')
        ? 'stream_failed'
        : SyncRefusal.Internal;
    deps.metrics.responderRequests.inc({ kind, outcome });
    // A peer that hangs up or overstays is routine (counted); only our own failures are worth a warning.
    const level = outcome === SyncRefusal.Internal ? 'warn' : 'debug';
    deps.logger[level]({ peer: stream.peer, kind, outcome, err: errorMessage(err) }, 'Sync session ended by a failure');
  } finally {
    clearTimeout(deadline);
  }
}

/**
 * The next request, or undefined when the initiator closed. The first must come promptly; later
 * ones within the stream's idle timeout (the relay resets a silent stream).
 */
async function readRequest(stream: FrameStream, first: boolean): Promise<Uint8Array | undefined> {
  if (!first) return stream.readFrame();
  const timer = setTimeout(() => stream.reset('request_timeout'), REQUEST_READ_TIMEOUT_MS);
  try {
    return await stream.readFrame();
  } finally {
    clearTimeout(timer);
  }
}

async function refuse(write: AnswerWriter, code: SyncRefusal, message: string): Promise<string> {
  await write(syncError(code, message));
  return code;
}

function scopeOf(payload: Payload): { id: Uint8Array; kind: 'context' | 'group' } | undefined {
  switch (payload.$case) {
    case 'deltaRequest':
      return { id: payload.deltaRequest.contextId, kind: 'context' };
    case 'dagHeadsRequest':
      return { id: payload.dagHeadsRequest.contextId, kind: 'context' };
    case 'treeNodeRequest':
      return { id: payload.treeNodeRequest.contextId, kind: 'context' };
    case 'entityPush':
      return { id: payload.entityPush.contextId, kind: 'context' };
    case 'snapshotRequest':
      return { id: payload.snapshotRequest.contextId, kind: 'context' };
    case 'groupOpsRequest':
      return { id: payload.groupOpsRequest.groupId, kind: 'group' };
    case 'keyShareRequest':
      return { id: payload.keyShareRequest.groupId, kind: 'group' };
    default:
      return undefined;
  }
}

type Admission = { scope: SessionScope } | { refusal: SyncRefusal; message: string };

/**
 * Checks one request against the session: the first proves membership and fixes the scope, later
 * ones must stay in it, and the member must still belong to the group.
 */
async function admit(
  deps: ResponderDeps,
  scope: SessionScope | undefined,
  request: wire.SyncStreamMessage,
  peer: string,
): Promise<Admission> {
  const target = scopeOf(request.payload!);
  if (!target) {
    return { refusal: SyncRefusal.Unsupported, message: `request ${request.payload!.$case} is not served` };
  }
  if (target.id.length !== ID_BYTES) return { refusal: SyncRefusal.Malformed, message: 'ids must be 32 bytes' };
  const scopeId = Buffer.from(target.id);
  if (scope) {
    if (!scope.scopeId.equals(scopeId)) {
      return { refusal: SyncRefusal.ScopeChanged, message: 'a session stays with one context or group' };
    }
    if (!(await isGroupMemberNow(governanceView(deps), scope.groupId, scope.member, peer))) {
      return { refusal: SyncRefusal.NotMember, message: 'the requester is no longer a member of the group' };
    }
    return { scope };
  }
  let groupId: Buffer = scopeId;
  let contextId: Buffer | undefined;
  if (target.kind === 'context') {
    const ctx = await deps.states.context(scopeId);
    if (!ctx?.groupId) return { refusal: SyncRefusal.UnknownContext, message: 'context not hosted here' };
    groupId = ctx.groupId;
    contextId = scopeId;
  }
  const member = await peerIsGroupMember(deps, request.auth, scopeId, groupId, peer);
  if (!member) return { refusal: SyncRefusal.NotMember, message: 'the requester does not prove a member identity' };
  const [ours] = contextId ? await deps.identities.owned(contextId) : [await deps.identities.ownedInGroup(groupId)];
  if (!ours) return { refusal: SyncRefusal.Internal, message: 'this node holds no member identity here' };
  const proof = signMemberAuth(ours, scopeId, await deps.sync.peerId(), { role: MemberAuthRole.Responder });
  return { scope: { scopeId, groupId, member, contextId, proof } };
}

/**
 * Inbound sync authorisation (upstream's `peer_is_group_member`), the one check every responder
 * path goes through: the requester's proof verifies for its transport peer id, and the identity it
 * proves is a member of the group — by the projection at our governance heads, falling back to the
 * live view only when the projection cannot tell (a disagreement is logged as
 * unified_projection_divergence, plane membership-sync). When it is not a member, the group's ops
 * we lack are caught up from the requester (we may be behind) and the check runs again. Returns the
 * member identity, and remembers the peer as a member peer of the group (peer selection prefers them).
 */
export async function peerIsGroupMember(
  deps: ResponderDeps,
  auth: wire.MemberAuth | undefined,
  scopeId: Buffer,
  groupId: Buffer,
  peer: string,
): Promise<Buffer | undefined> {
  let member: Buffer;
  try {
    member = verifyMemberAuth(auth, scopeId, peer);
  } catch {
    return undefined;
  }
  if (!(await isGroupMemberNow(governanceView(deps), groupId, member, peer))) {
    // Perhaps we are behind on governance: the requester's group ops may name it a member.
    const me = await deps.identities.ownedInGroup(groupId);
    if (!me || !(await deps.sync.isMemberCatchingUp(groupId, member, peer, me))) return undefined;
  }
  const key = deps.catalog.redis.memberPeers(groupId.toString('hex'));
  await deps
    .redis()
    .multi()
    .zadd(key, Date.now(), peer)
    .zremrangebyrank(key, 0, -MEMBER_PEERS_KEPT - 1)
    .pexpire(key, 24 * 3600_000)
    .exec()
    .catch(() => undefined);
  return member;
}

const governanceView = (deps: ResponderDeps) => ({
  groups: deps.groups,
  logger: deps.logger,
  divergences: deps.metrics.projectionDivergences,
});

async function serve(deps: ResponderDeps, scope: SessionScope, payload: Payload, write: AnswerWriter): Promise<string> {
  const contextId = scope.contextId;
  const context = async () => (contextId ? await deps.states.context(contextId) : undefined);
  let answer: wire.SyncStreamMessage;
  switch (payload.$case) {
    case 'deltaRequest':
      answer = await serveDeltaRequest(deps, payload.deltaRequest);
      break;
    case 'dagHeadsRequest': {
      const ctx = await context();
      answer = ctx
        ? await serveDagHeads(deps, contextId!, ctx)
        : syncError(SyncRefusal.UnknownContext, 'context not hosted here');
      break;
    }
    case 'treeNodeRequest':
      answer = await serveTreeNodes(deps, contextId!, payload.treeNodeRequest);
      break;
    case 'entityPush': {
      const ctx = await context();
      answer = ctx?.initialized
        ? await serveEntityPush(deps, contextId!, payload.entityPush)
        : syncError(SyncRefusal.NotMaterialized, 'context has no state yet');
      break;
    }
    case 'snapshotRequest':
      return serveSnapshot(deps, contextId!, payload.snapshotRequest, write);
    case 'groupOpsRequest':
      answer = await serveGroupOps(deps, scope.groupId, payload.groupOpsRequest);
      break;
    case 'keyShareRequest':
      answer = await serveKeyShare(deps, scope.groupId, scope.member);
      break;
    default:
      answer = syncError(SyncRefusal.Unsupported, `request ${payload.$case} is not served`);
  }
  await write(answer);
  if (answer.payload?.$case === 'error') {
    deps.logger.debug(
      { context: contextId && toBase58(contextId), code: answer.payload.error.code },
      'Sync request refused',
    );
    return answer.payload.error.code;
  }
  return 'served';
}

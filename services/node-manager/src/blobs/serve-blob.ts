import { RelayedStream } from '@cnode/bus';
import { isGroupMemberNow } from '@cnode/context-core';
import { ID_BYTES, checkBlobAuth } from '@cnode/primitives';
import { type bus, wire } from '@cnode/proto';
import { errorMessage, withTimeout } from '@cnode/runtime';
import { BLOB_FRAME_TIMEOUT_MS, BLOB_REQUEST_MAX_BYTES, BLOB_SERVE_BUDGET_MS } from '../constants.js';
import { relayOptions, type BlobTransferDeps } from './blob-transfer.js';

/** blob_serves_total outcomes besides the BlobAuthRefusal reasons. */
export enum BlobServeOutcome {
  Served = 'served',
  NotFound = 'not_found',
  NotMember = 'not_member',
  UnknownContext = 'unknown_context',
  BadRequest = 'bad_request',
  Busy = 'busy',
  Failed = 'failed',
}

/**
 * Serves one inbound `/calimero/blob/pb/1` stream: reads the BlobRequest, serves
 * the context application's own blob to anyone asking about the context, anything else only to a
 * fresh token of a member identity (checked for the stream's real peer), and streams the chunks one
 * at a time as the relay's credit allows. Unauthorised and missing both answer `found: false`.
 * Runs detached from the NET_EVENTS message that announced the stream; at most
 * BLOB_SERVE_MAX_CONCURRENT at once, the rest are reset.
 */
export async function serveBlobStream(deps: BlobTransferDeps, opened: bus.StreamOpened): Promise<void> {
  const count = (outcome: string) => deps.metrics.blobServes.inc({ outcome });
  const stream = RelayedStream.accept(relayOptions(deps), opened);
  if (deps.meters.active('serve') >= deps.limits.serveMaxConcurrent) {
    stream.reset('busy');
    count(BlobServeOutcome.Busy);
    return;
  }
  const meter = deps.meters.start('serve');
  const budget = setTimeout(() => stream.reset('serve_budget'), BLOB_SERVE_BUDGET_MS);
  try {
    const frame = await withTimeout(stream.readFrame(), BLOB_FRAME_TIMEOUT_MS, () => new Error('no request in time'));
    const request = decodeRequest(frame);
    if (!request) {
      stream.reset('bad_request');
      count(BlobServeOutcome.BadRequest);
      return;
    }
    const refusal = await refusalOf(deps, request, opened.peer);
    const info = refusal ? undefined : await deps.blobs.info(Buffer.from(request.blobId));
    if (refusal || !info || info.size > deps.limits.maxBytes) {
      await stream.writeFrame(
        wire.BlobResponse.encode({ found: false, size: 0n, chunkHashes: [], contentHash: Buffer.alloc(0) }).finish(),
      );
      await stream.closeWrite();
      count(refusal ?? BlobServeOutcome.NotFound);
      if (refusal) deps.logger.info({ peer: opened.peer, refusal }, 'Refused a blob request');
      return;
    }
    const chunkHashes = await deps.blobs.chunkHashes(info.id);
    await stream.writeFrame(
      wire.BlobResponse.encode({
        found: true,
        size: BigInt(info.size),
        chunkHashes,
        contentHash: info.contentHash,
      }).finish(),
    );
    for await (const data of deps.blobs.chunks(info.id)) {
      meter.holding(data.length);
      await stream.writeFrame(wire.BlobChunk.encode({ data }).finish());
      meter.moved(data.length);
    }
    await stream.writeFrame(wire.BlobChunk.encode({ data: Buffer.alloc(0) }).finish());
    await stream.closeWrite();
    count(BlobServeOutcome.Served);
  } catch (err) {
    stream.reset();
    count(BlobServeOutcome.Failed);
    deps.logger.warn({ peer: opened.peer, err: errorMessage(err) }, 'Serving a blob failed');
  } finally {
    clearTimeout(budget);
    meter.done();
  }
}

function decodeRequest(frame: Uint8Array | undefined): wire.BlobRequest | undefined {
  if (!frame || frame.length > BLOB_REQUEST_MAX_BYTES) return undefined;
  try {
    const request = wire.BlobRequest.decode(frame);
    return request.blobId.length === ID_BYTES && request.contextId.length === ID_BYTES ? request : undefined;
  } catch {
    return undefined;
  }
}

/** Why the requester may not have the blob, or undefined when it may. */
async function refusalOf(deps: BlobTransferDeps, request: wire.BlobRequest, peer: string): Promise<string | undefined> {
  const contextId = Buffer.from(request.contextId);
  const blobId = Buffer.from(request.blobId);
  const ctx = await deps.states.context(contextId);
  if (!ctx?.groupId) return BlobServeOutcome.UnknownContext;
  // The context application's own bundle is public to the context's peers (upstream's rule).
  if (ctx.applicationId) {
    const app = await deps.applications.get(ctx.applicationId);
    if (app?.blobId.equals(blobId)) return undefined;
  }
  const checked = checkBlobAuth(request.auth, { blobId, contextId, requesterPeer: peer });
  if ('refused' in checked) return checked.refused;
  // Membership by the projection at our heads; when that says no, the requester's group ops are
  // caught up first (we may be behind), as for every sync responder path.
  const [me] = await deps.identities.owned(contextId);
  const member = me
    ? await deps.sync.isMemberCatchingUp(ctx.groupId, checked.member, peer, me)
    : await isGroupMemberNow(
        { groups: deps.groups, logger: deps.logger, divergences: deps.metrics.projectionDivergences },
        ctx.groupId,
        checked.member,
        peer,
      );
  return member ? undefined : BlobServeOutcome.NotMember;
}

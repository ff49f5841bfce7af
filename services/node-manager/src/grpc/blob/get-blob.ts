import { status, type ServerWritableStream } from '@grpc/grpc-js';
import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { blobInfoView } from '../../blobs/blob-views.js';
import type { BlobInfo } from '@cnode/store';
import { fetchBlob } from '../../blobs/fetch-blob.js';
import { requireContext } from '../../contexts/context-access.js';
import { AdminCallError, AdminErrorCode, badArgument, idArg } from '../admin-errors.js';
import { writeWithBackpressure } from '../unary.js';

/** Most peers one request may name as providers to ask first. */
const MAX_HINTED_PEERS = 16;
const PEER_ID_PATTERN = /^[1-9A-HJ-NP-Za-km-z]{32,128}$/;

/**
 * The stored blob named by a request field. A blob missing here is fetched from the providers of
 * `from.contextId` (the hinted peers first); without a context, or when nobody serves it, NOT_FOUND.
 */
export async function requireBlob(
  deps: ContextDeps,
  blobIdText: string,
  from: { contextId?: string; peers?: readonly string[] } = {},
): Promise<BlobInfo> {
  const id = idArg(blobIdText, 'blob_id');
  const info = await deps.blobs.info(id);
  if (info) return info;
  if (!from.contextId)
    throw new AdminCallError(status.NOT_FOUND, AdminErrorCode.BlobUnknown, `blob ${blobIdText} is not stored here`);
  const peers = from.peers ?? [];
  if (peers.length > MAX_HINTED_PEERS) throw badArgument(`peers: at most ${MAX_HINTED_PEERS}`);
  const bad = peers.find((p) => !PEER_ID_PATTERN.test(p));
  if (bad !== undefined) throw badArgument(`peers: ${JSON.stringify(bad.slice(0, 80))} is not a peer id`);
  const ctx = await requireContext(deps, from.contextId);
  return fetchBlob(deps.blobTransfer, { blobId: id, contextId: ctx.id, peers });
}

/**
 * BlobService.GetBlob: the blob's info, then its chunks in order, each verified as it is read and
 * written only as fast as the client takes them. A blob missing here is fetched first.
 */
export async function getBlob(
  deps: ContextDeps,
  call: ServerWritableStream<admin.GetBlobRequest, admin.GetBlobResponse>,
): Promise<void> {
  const { blobId, contextId, peers } = call.request;
  const info = await requireBlob(deps, blobId, { contextId, peers });
  await writeWithBackpressure(call, { part: { $case: 'info', info: blobInfoView(info) } });
  for await (const chunk of deps.blobs.chunks(info.id)) {
    await writeWithBackpressure(call, { part: { $case: 'data', data: chunk } });
  }
}

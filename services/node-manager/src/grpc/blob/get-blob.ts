import { status, type ServerWritableStream } from '@grpc/grpc-js';
import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { blobInfoView } from '../../blobs/blob-views.js';
import { AdminCallError, AdminErrorCode, idArg } from '../admin-errors.js';
import { writeWithBackpressure } from '../unary.js';

/** The stored blob named by a request field, or NOT_FOUND. */
export async function requireBlob(deps: ContextDeps, blobIdText: string) {
  const id = idArg(blobIdText, 'blob_id');
  const info = await deps.blobs.info(id);
  if (!info)
    throw new AdminCallError(status.NOT_FOUND, AdminErrorCode.BlobUnknown, `blob ${blobIdText} is not stored here`);
  return info;
}

/**
 * BlobService.GetBlob: the blob's info, then its chunks in order, each verified as it is read and
 * written only as fast as the client takes them.
 */
export async function getBlob(
  deps: ContextDeps,
  call: ServerWritableStream<admin.GetBlobRequest, admin.GetBlobResponse>,
): Promise<void> {
  const info = await requireBlob(deps, call.request.blobId);
  await writeWithBackpressure(call, { part: { $case: 'info', info: blobInfoView(info) } });
  for await (const chunk of deps.blobs.chunks(info.id)) {
    await writeWithBackpressure(call, { part: { $case: 'data', data: chunk } });
  }
}

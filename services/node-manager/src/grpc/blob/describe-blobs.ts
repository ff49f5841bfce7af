import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { blobInfoView } from '../../blobs/blob-views.js';
import { requireBlob } from './get-blob.js';

/** BlobService.GetBlobInfo. */
export async function getBlobInfo(
  deps: ContextDeps,
  req: admin.GetBlobInfoRequest,
): Promise<admin.GetBlobInfoResponse> {
  return { blob: blobInfoView(await requireBlob(deps, req.blobId)) };
}

/** BlobService.ListBlobs: every stored blob, oldest first. */
export async function listBlobs(deps: ContextDeps): Promise<admin.ListBlobsResponse> {
  return { blobs: (await deps.blobs.list()).map(blobInfoView) };
}

import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { announceBlob, findBlobProviders } from '../../blobs/blob-providers.js';
import { requireContext } from '../../contexts/context-access.js';
import { requireBlob } from './get-blob.js';
import { idArg } from '../admin-errors.js';

/** BlobService.AnnounceBlob: this node becomes a DHT provider of a blob it stores, for the context. */
export async function announceBlobCall(
  deps: ContextDeps,
  req: admin.AnnounceBlobRequest,
): Promise<admin.AnnounceBlobResponse> {
  const info = await requireBlob(deps, req.blobId);
  const ctx = await requireContext(deps, req.contextId);
  await announceBlob(deps.network, ctx.id, info.id);
  return {};
}

/** BlobService.FindBlobProviders: the providers the DHT names for the blob in the context. */
export async function findBlobProvidersCall(
  deps: ContextDeps,
  req: admin.FindBlobProvidersRequest,
): Promise<admin.FindBlobProvidersResponse> {
  const blobId = idArg(req.blobId, 'blob_id');
  const ctx = await requireContext(deps, req.contextId);
  return { peers: await findBlobProviders(deps.network, ctx.id, blobId) };
}

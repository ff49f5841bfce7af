import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../contexts/context-deps.js';
import { addBlob } from './blob/add-blob.js';
import { announceBlobCall, findBlobProvidersCall } from './blob/blob-providers.js';
import { deleteBlob } from './blob/delete-blob.js';
import { getBlobInfo, listBlobs } from './blob/describe-blobs.js';
import { getBlob } from './blob/get-blob.js';
import { getBlobBytes } from './blob/get-blob-bytes.js';
import { clientStreaming, serverStreaming, unary } from './unary.js';

/** BlobService: each method's implementation lives under ./blob. */
export function blobService(deps: ContextDeps): admin.BlobServiceServer {
  return {
    addBlob: clientStreaming('AddBlob', deps, (call) => addBlob(deps, call)),
    getBlob: serverStreaming('GetBlob', deps, (call) => getBlob(deps, call)),
    getBlobBytes: unary('GetBlobBytes', deps, (req: admin.GetBlobBytesRequest) => getBlobBytes(deps, req)),
    getBlobInfo: unary('GetBlobInfo', deps, (req: admin.GetBlobInfoRequest) => getBlobInfo(deps, req)),
    listBlobs: unary('ListBlobs', deps, () => listBlobs(deps)),
    deleteBlob: unary('DeleteBlob', deps, (req: admin.DeleteBlobRequest) => deleteBlob(deps, req)),
    announceBlob: unary('AnnounceBlob', deps, (req: admin.AnnounceBlobRequest) => announceBlobCall(deps, req)),
    findBlobProviders: unary('FindBlobProviders', deps, (req: admin.FindBlobProvidersRequest) =>
      findBlobProvidersCall(deps, req),
    ),
  };
}

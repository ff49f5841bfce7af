import { status } from '@grpc/grpc-js';
import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { AdminCallError, AdminErrorCode, idArg } from '../admin-errors.js';

/**
 * BlobService.DeleteBlob: the blob goes and its chunks are released (shared ones stay for the blobs
 * that still hold them). A blob an installed application uses stays unless `force`.
 */
export async function deleteBlob(deps: ContextDeps, req: admin.DeleteBlobRequest): Promise<admin.DeleteBlobResponse> {
  const id = idArg(req.blobId, 'blob_id');
  if (!req.force && (await deps.applications.usesBlob(id))) {
    throw new AdminCallError(
      status.FAILED_PRECONDITION,
      AdminErrorCode.BlobInUse,
      'an installed application uses this blob (uninstall it first, or force)',
    );
  }
  const deleted = await deps.blobs.delete(id);
  await deps.blobCache.invalidate(id.toString('hex'));
  if (deleted) deps.logger.info({ blob: req.blobId }, 'Deleted a blob');
  return { deleted };
}

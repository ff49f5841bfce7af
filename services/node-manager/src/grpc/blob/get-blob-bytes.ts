import { status } from '@grpc/grpc-js';
import type { admin } from '@cnode/proto';
import { errorMessage, withTimeout } from '@cnode/runtime';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { blobInfoView } from '../../blobs/blob-views.js';
import { AdminCallError, AdminErrorCode } from '../admin-errors.js';
import { requireBlob } from './get-blob.js';

/** How long a cache read may take before the store is read instead (upstream's 1 s actor leg). */
const CACHE_READ_TIMEOUT_MS = 1_000;

/**
 * BlobService.GetBlobBytes: the whole blob through the hot cache: a hit is touched and returned, a
 * miss is read from the store and cached. A slow or lost Redis only costs the cache, never the call.
 */
export async function getBlobBytes(
  deps: ContextDeps,
  req: admin.GetBlobBytesRequest,
): Promise<admin.GetBlobBytesResponse> {
  const info = await requireBlob(deps, req.blobId, { contextId: req.contextId, peers: req.peers });
  if (info.size > deps.blobLimits.wholeMaxBytes) {
    throw new AdminCallError(
      status.FAILED_PRECONDITION,
      AdminErrorCode.BlobTooLargeForBytes,
      `blob is ${info.size} bytes, more than GetBlobBytes returns (${deps.blobLimits.wholeMaxBytes}); stream it with GetBlob`,
    );
  }
  const hex = info.id.toString('hex');
  const cached = await withTimeout(
    deps.blobCache.get(hex),
    CACHE_READ_TIMEOUT_MS,
    () => new Error('cache read timed out'),
  ).catch((err: unknown) => {
    deps.metrics.blobCache.requests.inc({ outcome: 'error' });
    deps.logger.warn({ err: errorMessage(err) }, 'Blob cache unavailable; reading the store');
    return undefined;
  });
  if (cached) return { blob: blobInfoView(info), data: cached.data, cached: true };
  const data = await deps.blobs.get(info.id);
  if (!data)
    throw new AdminCallError(status.NOT_FOUND, AdminErrorCode.BlobUnknown, `blob ${req.blobId} is not stored here`);
  await deps.blobCache
    .put(hex, data)
    .catch((err: unknown) => deps.logger.warn({ err: errorMessage(err) }, 'Could not cache a blob'));
  return { blob: blobInfoView(info), data, cached: false };
}

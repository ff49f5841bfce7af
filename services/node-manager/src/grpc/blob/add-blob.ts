import type { ServerReadableStream } from '@grpc/grpc-js';
import type { admin } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { storeStreamAsBlob } from '../../apps/install.js';
import { announceBlob } from '../../blobs/blob-providers.js';
import { blobInfoView } from '../../blobs/blob-views.js';
import { requireContext } from '../../contexts/context-access.js';
import { optionalHashArg } from '../admin-errors.js';
import { headerThenData } from '../header-then-data.js';

/**
 * BlobService.AddBlob: a header, then data pieces written chunk by chunk (the stream is read only
 * as fast as the store takes it, so a large upload holds one chunk). Expected size and hash are
 * checked at the end; an oversized upload fails as soon as it passes the limit.
 */
export async function addBlob(
  deps: ContextDeps,
  call: ServerReadableStream<admin.AddBlobRequest, admin.AddBlobResponse>,
): Promise<admin.AddBlobResponse> {
  const { header, data } = await headerThenData(call as AsyncIterable<admin.AddBlobRequest>, 'AddBlob');
  const stored = await storeStreamAsBlob(deps, data, 'upload', {
    expectedSize: header.expectedSize === undefined ? undefined : Number(header.expectedSize),
    expectedHash: optionalHashArg(header.expectedHash, 'expected_hash'),
  });
  const blobId = blobInfoView(stored).blobId;
  deps.logger.info({ blob: blobId, size: stored.size, created: stored.created }, 'Stored a blob');
  if (header.announceContextId) {
    const ctx = await requireContext(deps, header.announceContextId);
    // The blob is stored either way: an announcement that fails is logged, not the upload's failure.
    await announceBlob(deps.network, ctx.id, stored.id).catch((err: unknown) =>
      deps.logger.warn({ blob: blobId, err: errorMessage(err) }, 'Could not announce a blob'),
    );
  }
  return { blob: blobInfoView(stored), created: stored.created };
}

import type { ServerReadableStream } from '@grpc/grpc-js';
import type { admin } from '@cnode/proto';
import type { BlobWriter } from '@cnode/store';
import { errorMessage } from '@cnode/runtime';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { announceBlob } from '../../blobs/blob-providers.js';
import { blobInfoView } from '../../blobs/blob-views.js';
import { requireContext } from '../../contexts/context-access.js';
import { badArgument, optionalHashArg } from '../admin-errors.js';

/**
 * BlobService.AddBlob: a header, then data pieces written chunk by chunk (the stream is read only
 * as fast as the store takes it, so a large upload holds one chunk). Expected size and hash are
 * checked at the end; an oversized upload fails as soon as it passes the limit.
 */
export async function addBlob(
  deps: ContextDeps,
  call: ServerReadableStream<admin.AddBlobRequest, admin.AddBlobResponse>,
): Promise<admin.AddBlobResponse> {
  let writer: BlobWriter | undefined;
  let announceTo: string | undefined;
  try {
    for await (const request of call as AsyncIterable<admin.AddBlobRequest>) {
      const part = request.part;
      if (!writer) {
        if (part?.$case !== 'header') throw badArgument('the first message of AddBlob must be the header');
        const header = part.header;
        writer = deps.blobs.writer({
          expectedSize: header.expectedSize === undefined ? undefined : Number(header.expectedSize),
          expectedHash: optionalHashArg(header.expectedHash, 'expected_hash'),
          maxBytes: deps.blobLimits.maxBytes,
        });
        announceTo = header.announceContextId || undefined;
        continue;
      }
      if (part?.$case !== 'data') throw badArgument('only data may follow the AddBlob header');
      await writer.write(part.data);
    }
    if (!writer) throw badArgument('AddBlob needs a header');
    const stored = await writer.finish();
    deps.metrics.blobsStored.inc({ source: 'upload', outcome: stored.created ? 'created' : 'deduplicated' });
    deps.logger.info(
      { blob: blobInfoView(stored).blobId, size: stored.size, created: stored.created },
      'Stored a blob',
    );
    if (announceTo) {
      const ctx = await requireContext(deps, announceTo);
      // The blob is stored either way: an announcement that fails is logged, not the upload's failure.
      await announceBlob(deps.network, ctx.id, stored.id).catch((err: unknown) =>
        deps.logger.warn({ blob: blobInfoView(stored).blobId, err: errorMessage(err) }, 'Could not announce a blob'),
      );
    }
    return { blob: blobInfoView(stored), created: stored.created };
  } catch (err) {
    writer?.abort();
    deps.metrics.blobsStored.inc({ source: 'upload', outcome: 'refused' });
    throw err;
  }
}

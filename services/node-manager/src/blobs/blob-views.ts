import { toBase58 } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import type { BlobInfo } from '@cnode/store';

/** A stored blob as the admin API shows it. */
export function blobInfoView(info: BlobInfo): admin.BlobInfo {
  return {
    blobId: toBase58(info.id),
    size: BigInt(info.size),
    chunkCount: info.chunkCount,
    contentHash: info.contentHash.toString('hex'),
  };
}

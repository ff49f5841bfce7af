import { toBase58 } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import type { ApplicationRecord } from '@cnode/store';

/** An installed application as the admin API shows it. */
export function applicationView(app: ApplicationRecord, aliases: string[]): admin.Application {
  return {
    applicationId: toBase58(app.id),
    kind: app.kind,
    package: app.package,
    version: app.version,
    signer: app.signer ?? '',
    blobId: toBase58(app.blobId),
    size: BigInt(app.size),
    source: app.source,
    metadata: app.metadata,
    artifacts: app.artifacts.map((a) => ({
      name: a.name,
      path: a.path,
      blobId: toBase58(Buffer.from(a.blobId, 'hex')),
      hash: a.hash,
      size: BigInt(a.size),
    })),
    aliases,
  };
}

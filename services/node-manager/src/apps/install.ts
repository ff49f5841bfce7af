import { admin } from '@cnode/proto';
import { toBase58 } from '@cnode/primitives';
import { verifyBundle, type ArtifactSink } from '@cnode/app-bundle';
import type { ApplicationArtifact, ApplicationRecord, BlobWriteOptions, StoredBlob } from '@cnode/store';
import type { ContextDeps } from '../contexts/context-deps.js';
import { applicationView } from './application-views.js';
import { bundleApplicationId, wasmApplicationId } from './application-ids.js';
import { moduleBlobOf } from './wasm-modules.js';
import { badArgument } from '../grpc/admin-errors.js';

/** gzip's magic bytes: what an auto-detected bundle starts with. */
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

export interface InstallRequest {
  /** The application bytes, streamed. */
  bytes: AsyncIterable<Uint8Array>;
  format: admin.InstallFormat;
  source: string;
  metadata: Uint8Array;
  allowUnsigned: boolean;
}

/** Stores streamed bytes as a blob (bounded by BLOB_MAX_STREAM_SIZE), counted by source and outcome. */
export async function storeStreamAsBlob(
  deps: ContextDeps,
  bytes: AsyncIterable<Uint8Array>,
  source: 'install' | 'upload' | 'peer',
  expect: Omit<BlobWriteOptions, 'maxBytes'> = {},
): Promise<StoredBlob> {
  const writer = deps.blobs.writer({ ...expect, maxBytes: deps.blobLimits.maxBytes });
  try {
    for await (const piece of bytes) await writer.write(piece);
    const stored = await writer.finish();
    deps.metrics.blobsStored.inc({ source, outcome: stored.created ? 'created' : 'deduplicated' });
    return stored;
  } catch (err) {
    writer.abort();
    deps.metrics.blobsStored.inc({ source, outcome: 'refused' });
    throw err;
  }
}

/** Upstream's install paths end here: the bytes become a blob, then a bundle or raw wasm application. */
export async function installApplication(deps: ContextDeps, req: InstallRequest): Promise<admin.Application> {
  const stored = await storeStreamAsBlob(deps, req.bytes, 'install');
  try {
    return await installFromStoredBlob(deps, stored.id, req);
  } catch (err) {
    // Refused bytes do not stay behind (unless they were stored before this install).
    if (stored.created) await deps.blobs.delete(stored.id);
    throw err;
  }
}

/**
 * Installs a stored blob: a bundle is verified (strictly, unless `allowUnsigned`) while each
 * artifact is stored as its own blob; anything else is raw wasm. The application row is written
 * only after everything verified.
 */
export async function installFromStoredBlob(
  deps: ContextDeps,
  blobId: Buffer,
  req: Omit<InstallRequest, 'bytes'>,
): Promise<admin.Application> {
  const info = (await deps.blobs.info(blobId))!;
  const isBundle =
    req.format === admin.InstallFormat.INSTALL_FORMAT_BUNDLE ||
    (req.format === admin.InstallFormat.INSTALL_FORMAT_UNSPECIFIED && (await startsWithGzip(deps, blobId)));
  let record: ApplicationRecord;
  if (isBundle) {
    const sink = (): ArtifactSink<StoredBlob> => {
      const writer = deps.blobs.writer({ maxBytes: deps.blobLimits.maxBytes });
      return { write: (piece) => writer.write(piece), finish: () => writer.finish(), abort: () => writer.abort() };
    };
    const verified = await verifyBundle(() => deps.blobs.chunks(blobId), {
      allowUnsigned: req.allowUnsigned,
      sink,
    }).catch((err: unknown) => {
      deps.metrics.appInstalls.inc({ kind: 'bundle', outcome: (err as { code?: string }).code ?? 'failed' });
      throw err;
    });
    const artifacts: ApplicationArtifact[] = verified.artifacts.map((a) => ({
      name: a.role === 'abi' ? `${a.name || 'main'}.abi` : a.name || 'main',
      path: a.artifact.path,
      blobId: a.stored.id.toString('hex'),
      hash: a.artifact.hash.toLowerCase(),
      size: a.artifact.size,
    }));
    record = {
      id: bundleApplicationId(verified.manifest.package, verified.signerId ?? ''),
      kind: 'bundle',
      package: verified.manifest.package,
      version: verified.manifest.appVersion,
      signer: verified.signerId,
      blobId,
      size: info.size,
      source: req.source,
      metadata: Buffer.from(req.metadata),
      manifest: verified.manifest,
      artifacts,
    };
  } else {
    record = {
      id: wasmApplicationId(blobId, info.size, req.source, req.metadata),
      kind: 'wasm',
      package: 'unknown',
      version: '0.0.0',
      signer: null,
      blobId,
      size: info.size,
      source: req.source,
      metadata: Buffer.from(req.metadata),
      manifest: {},
      artifacts: [],
    };
  }
  // A module the runtime would refuse is refused now, with the reason, not at its first call.
  const moduleBlob = moduleBlobOf(record);
  const bytes = moduleBlob && (await deps.blobs.get(moduleBlob));
  if (!bytes) throw badArgument('the application has no module (a bundle needs a wasm artifact)');
  let prepared;
  try {
    prepared = deps.wasm.modules.check(bytes);
  } catch (err) {
    deps.metrics.appInstalls.inc({ kind: record.kind, outcome: 'module_refused' });
    throw err;
  }
  await deps.applications.upsert(record);
  deps.wasm.modules.remember(record, prepared);
  deps.metrics.appInstalls.inc({ kind: record.kind, outcome: 'installed' });
  deps.logger.info(
    {
      application: toBase58(record.id),
      kind: record.kind,
      package: record.package,
      version: record.version,
      signer: record.signer,
      source: record.source,
    },
    'Installed an application',
  );
  return applicationView(record, []);
}

async function startsWithGzip(deps: ContextDeps, blobId: Buffer): Promise<boolean> {
  const first = await deps.blobs.chunk(blobId, 0);
  return first !== undefined && first.subarray(0, 2).equals(GZIP_MAGIC);
}

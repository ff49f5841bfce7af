import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import type { ServerReadableStream } from '@grpc/grpc-js';
import { admin } from '@cnode/proto';
import { toBase58 } from '@cnode/primitives';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { AppError, AppErrorCode } from '../../apps/app-errors.js';
import { installApplication, installFromStoredBlob } from '../../apps/install.js';
import { fetchGuarded } from '../../apps/url-fetch.js';
import { badArgument, optionalHashArg } from '../admin-errors.js';
import { requireBlob } from '../blob/get-blob.js';
import { headerThenData } from '../header-then-data.js';

/** A path (or URL path) naming a bundle: `.mpk`, as upstream decides. */
const isBundlePath = (path: string) => path.toLowerCase().endsWith('.mpk');
const formatFor = (path: string) =>
  isBundlePath(path) ? admin.InstallFormat.INSTALL_FORMAT_BUNDLE : admin.InstallFormat.INSTALL_FORMAT_WASM;

/** ApplicationService.InstallApplication: the header, then the bytes, streamed into the blob store. */
export async function installApplicationCall(
  deps: ContextDeps,
  call: ServerReadableStream<admin.InstallApplicationRequest, admin.InstallApplicationResponse>,
): Promise<admin.InstallApplicationResponse> {
  const { header, data } = await headerThenData(
    call as AsyncIterable<admin.InstallApplicationRequest>,
    'InstallApplication',
  );
  const application = await installApplication(deps, {
    bytes: data,
    format: header.format,
    source: header.source || 'upload',
    metadata: header.metadata,
    allowUnsigned: header.allowUnsigned,
  });
  return { application };
}

/** ApplicationService.InstallFromPath: a file on the node (canonicalised; `.mpk` is a bundle). */
export async function installFromPath(
  deps: ContextDeps,
  req: admin.InstallFromPathRequest,
): Promise<admin.InstallFromPathResponse> {
  if (!req.path) throw badArgument('path is required');
  let path: string;
  try {
    path = await realpath(req.path);
    if (!(await stat(path)).isFile()) throw new Error('not a regular file');
  } catch (err) {
    throw new AppError(AppErrorCode.PathUnreadable, `cannot read ${req.path}: ${(err as Error).message}`);
  }
  const application = await installApplication(deps, {
    bytes: createReadStream(path, { highWaterMark: 1024 * 1024 }),
    format: formatFor(path),
    source: pathToFileURL(path).href,
    metadata: req.metadata,
    allowUnsigned: req.allowUnsigned,
  });
  return { application };
}

/** ApplicationService.InstallFromUrl: downloaded through the SSRF guard, then installed. */
export async function installFromUrl(
  deps: ContextDeps,
  req: admin.InstallFromUrlRequest,
): Promise<admin.InstallFromUrlResponse> {
  if (!req.url) throw badArgument('url is required');
  const expectedHash = optionalHashArg(req.expectedHash, 'expected_hash');
  const format = formatFor(safePathname(req.url));
  const bytes = fetchGuarded(req.url, deps.urlFetch);
  const application = await installApplication(deps, {
    bytes: expectedHash ? checkedHash(bytes, expectedHash) : bytes,
    format,
    source: req.url,
    metadata: req.metadata,
    allowUnsigned: req.allowUnsigned,
  }).catch((err: unknown) => {
    deps.logger.info({ url: req.url, err: (err as Error).message }, 'Install from URL refused');
    throw err;
  });
  return { application };
}

/** ApplicationService.InstallFromBlob: a bundle already stored here. */
export async function installFromBlob(
  deps: ContextDeps,
  req: admin.InstallFromBlobRequest,
): Promise<admin.InstallFromBlobResponse> {
  const info = await requireBlob(deps, req.blobId, { contextId: req.contextId, peers: req.peers });
  const application = await installFromStoredBlob(deps, info.id, {
    format: admin.InstallFormat.INSTALL_FORMAT_BUNDLE,
    source: `blob:${toBase58(info.id)}`,
    metadata: Buffer.alloc(0),
    allowUnsigned: req.allowUnsigned,
  });
  return { application };
}

function safePathname(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '';
  }
}

/** Passes the bytes through, failing at the end unless their SHA-256 is the expected one. */
async function* checkedHash(bytes: AsyncIterable<Buffer>, expected: Buffer): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  for await (const piece of bytes) {
    hash.update(piece);
    yield piece;
  }
  if (!hash.digest().equals(expected))
    throw new AppError(AppErrorCode.UrlFailed, 'the download does not match expected_hash');
}

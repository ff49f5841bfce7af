import { createHash } from 'node:crypto';
import {
  BUNDLE_MAX_DECOMPRESSED_BYTES,
  MANIFEST_MAX_BYTES,
  MANIFEST_PATH,
  MANIFEST_SCAN_LIMIT_BYTES,
  RUNTIME_VERSION,
} from './constants.js';
import { readArchive } from './archive.js';
import { BundleError, BundleErrorCode } from './errors.js';
import { manifestArtifacts, parseManifest, type BundleArtifact, type BundleManifest } from './manifest.js';
import { verifyManifestSignature } from './signing.js';
import { compareVersions } from './versions.js';

/** Opens the bundle's bytes from the start; verification reads it twice. */
export type BundleSource = () => AsyncIterable<Uint8Array>;

/** Where an artifact's bytes go while they are hashed (e.g. a blob upload). */
export interface ArtifactSink<T> {
  write(piece: Buffer): Promise<void>;
  /** Called only once the artifact's hash and size matched the manifest. */
  finish(): Promise<T>;
  abort(): void;
}

export interface VerifiedArtifact<T> {
  /** Service name, or "" for the top-level artifact. */
  name: string;
  role: 'wasm' | 'abi';
  artifact: BundleArtifact;
  stored: T;
}

export interface VerifiedBundle<T> {
  manifest: BundleManifest;
  /** did:key of the signer, or null for an unsigned (dev) bundle. */
  signerId: string | null;
  artifacts: VerifiedArtifact<T>[];
}

export interface VerifyOptions<T> {
  /** Dev installs: no signature is accepted (a present one is still verified). */
  allowUnsigned: boolean;
  /** Receives each artifact's bytes as they are read; none: artifacts are only hashed. */
  sink?: (artifact: BundleArtifact) => ArtifactSink<T>;
  maxDecompressedBytes?: number;
}

/** Upstream's `verify_and_extract_manifest`: strict (production) verification. */
export function verifyAndExtractManifest<T = undefined>(
  source: BundleSource,
  opts: Omit<VerifyOptions<T>, 'allowUnsigned'> = {},
): Promise<VerifiedBundle<T>> {
  return verifyBundle(source, { ...opts, allowUnsigned: false });
}

/** Upstream's `extract_manifest_allow_unsigned`: dev installs; a present signature is verified. */
export function extractManifestAllowUnsigned<T = undefined>(
  source: BundleSource,
  opts: Omit<VerifyOptions<T>, 'allowUnsigned'> = {},
): Promise<VerifiedBundle<T>> {
  return verifyBundle(source, { ...opts, allowUnsigned: true });
}

/**
 * Verifies a bundle in two streaming passes. First: the top-level manifest.json
 * within the first 8 MiB decompressed, parsed and checked (fields, paths, runtime version,
 * signature). Second: the whole archive, every entry path safe, exactly one manifest, total size
 * bounded, and every artifact's bytes hashed against the manifest (and handed to the sink).
 */
export async function verifyBundle<T>(source: BundleSource, opts: VerifyOptions<T>): Promise<VerifiedBundle<T>> {
  const max = opts.maxDecompressedBytes ?? BUNDLE_MAX_DECOMPRESSED_BYTES;
  const manifest = await findManifest(source, max);
  if (manifest.minRuntimeVersion && compareVersions(manifest.minRuntimeVersion, RUNTIME_VERSION) > 0) {
    throw new BundleError(
      BundleErrorCode.RuntimeTooOld,
      `the bundle needs runtime ${manifest.minRuntimeVersion}; this node runs ${RUNTIME_VERSION}`,
    );
  }
  let signerId: string | null = null;
  if (manifest.signature) signerId = verifyManifestSignature(manifest);
  else if (!opts.allowUnsigned)
    throw new BundleError(BundleErrorCode.Unsigned, 'the bundle is not signed (strict install)');

  const wanted = manifestArtifacts(manifest);
  const byPath = new Map<string, typeof wanted>();
  for (const item of wanted) byPath.set(item.artifact.path, [...(byPath.get(item.artifact.path) ?? []), item]);
  const found = new Map<string, T | undefined>();
  let manifests = 0;
  const open: ArtifactSink<T>[] = [];
  try {
    await readArchive(source(), max, async (entry) => {
      if (entry.path === MANIFEST_PATH) {
        manifests += 1;
        if (manifests > 1)
          throw new BundleError(BundleErrorCode.Malformed, 'the bundle has more than one manifest.json');
        return;
      }
      const items = byPath.get(entry.path);
      if (!items) return;
      if (found.has(entry.path)) throw new BundleError(BundleErrorCode.Malformed, `${entry.path} appears twice`);
      const artifact = items[0]!.artifact;
      const sink = opts.sink?.(artifact);
      if (sink) open.push(sink);
      const hash = createHash('sha256');
      let size = 0;
      for await (const piece of entry.body) {
        hash.update(piece);
        size += piece.length;
        if (size > artifact.size) break;
        await sink?.write(piece);
      }
      const digest = hash.digest('hex');
      for (const item of items) {
        if (size !== item.artifact.size || digest !== item.artifact.hash.toLowerCase()) {
          throw new BundleError(
            BundleErrorCode.HashMismatch,
            `${entry.path} does not match the manifest (${size} bytes, sha256 ${digest})`,
          );
        }
      }
      found.set(entry.path, await sink?.finish());
      if (sink) open.splice(open.indexOf(sink), 1);
    });
  } catch (err) {
    for (const sink of open) sink.abort();
    throw err;
  }
  for (const path of byPath.keys()) {
    if (!found.has(path))
      throw new BundleError(BundleErrorCode.HashMismatch, `artifact ${path} is missing from the bundle`);
  }
  return {
    manifest,
    signerId,
    artifacts: wanted.map((item) => ({ ...item, stored: found.get(item.artifact.path) as T })),
  };
}

async function findManifest(source: BundleSource, max: number): Promise<BundleManifest> {
  let manifest: BundleManifest | undefined;
  await readArchive(source(), max, async (entry) => {
    if (entry.offset >= MANIFEST_SCAN_LIMIT_BYTES)
      throw new BundleError(
        BundleErrorCode.Malformed,
        `no manifest.json in the first ${MANIFEST_SCAN_LIMIT_BYTES} bytes`,
      );
    if (entry.path !== MANIFEST_PATH) return true;
    if (entry.size > MANIFEST_MAX_BYTES)
      throw new BundleError(BundleErrorCode.TooLarge, `manifest.json is larger than ${MANIFEST_MAX_BYTES} bytes`);
    const parts: Buffer[] = [];
    for await (const piece of entry.body) parts.push(piece);
    manifest = parseManifest(Buffer.concat(parts));
    return false;
  });
  if (!manifest) throw new BundleError(BundleErrorCode.Malformed, 'the bundle has no top-level manifest.json');
  return manifest;
}

import { sha256 } from '@cnode/primitives';
import { MANIFEST_PATH } from './constants.js';
import { packArchive, type PackEntry } from './archive.js';
import { checkSafePath, type BundleArtifact, type BundleManifest } from './manifest.js';
import { signManifest } from './signing.js';

export interface BundleInput {
  package: string;
  appVersion: string;
  /** The top-level wasm. */
  wasm?: PackEntry;
  /** Named services, each with its wasm. */
  services?: { name: string; wasm: PackEntry }[];
  metadata?: unknown;
  minRuntimeVersion?: string;
  /** Ed25519 seed to sign with; none builds an unsigned (dev) bundle. */
  signingKey?: Uint8Array;
}

function artifactOf(entry: PackEntry): BundleArtifact {
  checkSafePath(entry.path, 'artifact');
  return { path: entry.path, hash: sha256(entry.data).toString('hex'), size: entry.data.length };
}

/** What `cnode app bundle` builds: manifest.json first, then the artifacts, signed when a key is given. */
export async function buildBundle(input: BundleInput): Promise<{ bundle: Buffer; manifest: BundleManifest }> {
  let manifest: BundleManifest = { version: '1', package: input.package, appVersion: input.appVersion };
  if (input.minRuntimeVersion) manifest.minRuntimeVersion = input.minRuntimeVersion;
  if (input.metadata !== undefined) manifest.metadata = input.metadata;
  if (input.wasm) manifest.wasm = artifactOf(input.wasm);
  if (input.services?.length)
    manifest.services = input.services.map((s) => ({ name: s.name, wasm: artifactOf(s.wasm) }));
  if (input.signingKey) manifest = signManifest(manifest, input.signingKey);
  const files = [...(input.wasm ? [input.wasm] : []), ...(input.services ?? []).map((s) => s.wasm)];
  const unique = [...new Map(files.map((f) => [f.path, f])).values()];
  const bundle = await packArchive([
    { path: MANIFEST_PATH, data: Buffer.from(JSON.stringify(manifest, null, 2)) },
    ...unique,
  ]);
  return { bundle, manifest };
}

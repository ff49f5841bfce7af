import { toBase58 } from '@cnode/primitives';
import { ED25519_MULTICODEC } from './constants.js';
import { BundleError, BundleErrorCode } from './errors.js';

/** A file of the bundle the manifest vouches for. */
export interface BundleArtifact {
  path: string;
  /** Hex SHA-256 of the file (case-insensitive). */
  hash: string;
  size: number;
}

export interface BundleService {
  name: string;
  wasm: BundleArtifact;
  abi?: BundleArtifact;
}

export interface ManifestSignature {
  algorithm: string;
  /** base64url (no padding) Ed25519 public key. */
  publicKey: string;
  /** base64url (no padding) Ed25519 signature over the signing digest. */
  signature: string;
}

/** manifest.json. Unknown keys are kept and signed over. */
export interface BundleManifest {
  version?: string;
  package: string;
  appVersion: string;
  signerId?: string;
  minRuntimeVersion?: string;
  metadata?: unknown;
  wasm?: BundleArtifact;
  abi?: BundleArtifact;
  services?: BundleService[];
  signature?: ManifestSignature;
  [key: string]: unknown;
}

/** Package names and versions: letters, digits and `.`, `_`, `-`, `+` (no path separators). */
const PATH_SAFE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

/** The signer id of an Ed25519 key: `did:key:z` + base58btc(0xed 0x01 ‖ key). */
export function signerIdOf(publicKey: Uint8Array): string {
  return `did:key:z${toBase58(Buffer.concat([ED25519_MULTICODEC, publicKey]))}`;
}

/** Refuses absolute paths, `..` segments, backslashes and empty segments. */
export function checkSafePath(path: string, what: string): void {
  const unsafe =
    path.length === 0 ||
    path.startsWith('/') ||
    path.includes('\\') ||
    path.includes('\0') ||
    path.split('/').some((segment) => segment === '..' || segment === '');
  if (unsafe) throw new BundleError(BundleErrorCode.UnsafePath, `${what} has an unsafe path: ${JSON.stringify(path)}`);
}

/** Every artifact the manifest lists, with the service (or "" for the top level) it belongs to. */
export function manifestArtifacts(
  manifest: BundleManifest,
): { name: string; role: 'wasm' | 'abi'; artifact: BundleArtifact }[] {
  const list: { name: string; role: 'wasm' | 'abi'; artifact: BundleArtifact }[] = [];
  if (manifest.wasm) list.push({ name: '', role: 'wasm', artifact: manifest.wasm });
  if (manifest.abi) list.push({ name: '', role: 'abi', artifact: manifest.abi });
  for (const service of manifest.services ?? []) {
    list.push({ name: service.name, role: 'wasm', artifact: service.wasm });
    if (service.abi) list.push({ name: service.name, role: 'abi', artifact: service.abi });
  }
  return list;
}

/** Parses and validates manifest.json; the signature is checked separately. */
export function parseManifest(bytes: Uint8Array): BundleManifest {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw malformed(`manifest.json is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(value)) throw malformed('manifest.json is not a JSON object');
  const manifest = value as BundleManifest;
  for (const field of ['package', 'appVersion'] as const) {
    const text = manifest[field];
    if (typeof text !== 'string' || !PATH_SAFE.test(text))
      throw malformed(`manifest ${field} must be 1–128 of letters, digits, . _ - + (got ${JSON.stringify(text)})`);
  }
  for (const field of ['version', 'signerId', 'minRuntimeVersion'] as const) {
    if (manifest[field] !== undefined && typeof manifest[field] !== 'string')
      throw malformed(`manifest ${field} must be a string`);
  }
  if (manifest.wasm !== undefined) checkArtifact(manifest.wasm, 'wasm');
  if (manifest.abi !== undefined) checkArtifact(manifest.abi, 'abi');
  if (manifest.services !== undefined) {
    if (!Array.isArray(manifest.services)) throw malformed('manifest services must be a list');
    const names = new Set<string>();
    for (const service of manifest.services as unknown[]) {
      if (!isObject(service) || typeof service.name !== 'string' || !PATH_SAFE.test(service.name))
        throw malformed('every service needs a path-safe name');
      if (names.has(service.name)) throw malformed(`service ${service.name} is listed twice`);
      names.add(service.name);
      checkArtifact(service.wasm, `service ${service.name} wasm`);
      if (service.abi !== undefined) checkArtifact(service.abi, `service ${service.name} abi`);
    }
  }
  if (manifest.signature !== undefined) {
    const sig = manifest.signature as unknown;
    if (
      !isObject(sig) ||
      typeof sig.algorithm !== 'string' ||
      typeof sig.publicKey !== 'string' ||
      typeof sig.signature !== 'string'
    )
      throw malformed('manifest signature must be {algorithm, publicKey, signature}');
  }
  return manifest;
}

function checkArtifact(value: unknown, what: string): asserts value is BundleArtifact {
  if (!isObject(value) || typeof value.path !== 'string') throw malformed(`${what} must be {path, hash, size}`);
  checkSafePath(value.path, what);
  if (typeof value.hash !== 'string' || !/^[0-9a-fA-F]{64}$/.test(value.hash))
    throw malformed(`${what} hash must be 64 hex characters`);
  if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0)
    throw malformed(`${what} size must be a non-negative integer`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(message: string): BundleError {
  return new BundleError(BundleErrorCode.Malformed, message);
}

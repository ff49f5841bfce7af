import { generateIdentity, publicKeyOf } from '@cnode/primitives';
import { BundleError, BundleErrorCode } from './errors.js';
import { signerIdOf } from './manifest.js';

const KEY_FILE_TYPE = 'cnode-app-signing-key';

/** A bundle signing key as `cnode app keygen` writes it (JSON; keep the file private). */
export interface SigningKeyFile {
  type: typeof KEY_FILE_TYPE;
  /** The 32-byte Ed25519 seed, hex. */
  seed: string;
  /** The did:key bundles signed with it name as their signer. */
  signer: string;
}

export function newSigningKeyFile(): SigningKeyFile {
  const { privateKey, publicKey } = generateIdentity();
  return { type: KEY_FILE_TYPE, seed: privateKey.toString('hex'), signer: signerIdOf(publicKey) };
}

/** The seed of a key file's text, checked (type, length, and the signer it claims). */
export function parseSigningKeyFile(text: string): Buffer {
  let parsed: Partial<SigningKeyFile>;
  try {
    parsed = JSON.parse(text) as Partial<SigningKeyFile>;
  } catch {
    throw new BundleError(BundleErrorCode.Malformed, 'the signing key file is not JSON');
  }
  if (parsed.type !== KEY_FILE_TYPE || typeof parsed.seed !== 'string' || !/^[0-9a-f]{64}$/.test(parsed.seed)) {
    throw new BundleError(BundleErrorCode.Malformed, `not a ${KEY_FILE_TYPE} file (expected a 64-hex-digit seed)`);
  }
  const seed = Buffer.from(parsed.seed, 'hex');
  if (parsed.signer !== undefined && parsed.signer !== signerIdOf(publicKeyOf(seed))) {
    throw new BundleError(BundleErrorCode.Malformed, 'the key file names a signer its seed does not belong to');
  }
  return seed;
}

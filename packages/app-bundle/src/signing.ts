import canonicalize from 'canonicalize';
import { publicKeyOf, sha256, signMessage, verifySignature } from '@cnode/primitives';
import { SIGNATURE_ALGORITHM } from './constants.js';
import { BundleError, BundleErrorCode } from './errors.js';
import { signerIdOf, type BundleManifest } from './manifest.js';

/**
 * What the signature covers: SHA-256 of the JCS (RFC 8785) form of the manifest without
 * `signature` and without top-level keys starting with `_`.
 */
export function signingDigest(manifest: BundleManifest): Buffer {
  const signed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(manifest)) {
    if (key === 'signature' || key.startsWith('_')) continue;
    signed[key] = value;
  }
  const text = canonicalize(signed);
  if (text === undefined) throw new BundleError(BundleErrorCode.Malformed, 'manifest cannot be canonicalised');
  return sha256(Buffer.from(text, 'utf8'));
}

/** The manifest signed with an Ed25519 key (its signerId set to that key's did:key). */
export function signManifest(manifest: BundleManifest, privateKey: Uint8Array): BundleManifest {
  const publicKey = publicKeyOf(privateKey);
  const unsigned: BundleManifest = { ...manifest, signerId: signerIdOf(publicKey) };
  delete unsigned.signature;
  const signature = signMessage(privateKey, signingDigest(unsigned));
  return {
    ...unsigned,
    signature: {
      algorithm: SIGNATURE_ALGORITHM,
      publicKey: publicKey.toString('base64url'),
      signature: signature.toString('base64url'),
    },
  };
}

/**
 * Verifies a present signature: the algorithm is exactly ed25519, the signerId is the key's
 * did:key, and the signature verifies over the signing digest. Returns the signer id.
 */
export function verifyManifestSignature(manifest: BundleManifest): string {
  const sig = manifest.signature;
  if (!sig) throw new BundleError(BundleErrorCode.Unsigned, 'the bundle is not signed');
  if (sig.algorithm !== SIGNATURE_ALGORITHM)
    throw bad(`signature algorithm must be "${SIGNATURE_ALGORITHM}", got ${JSON.stringify(sig.algorithm)}`);
  const publicKey = fromBase64Url(sig.publicKey, 'publicKey', 32);
  const signature = fromBase64Url(sig.signature, 'signature', 64);
  const expectedSigner = signerIdOf(publicKey);
  if (manifest.signerId !== expectedSigner)
    throw bad(`signerId ${String(manifest.signerId)} is not the signing key's (${expectedSigner})`);
  if (!verifySignature(publicKey, signingDigest(manifest), signature))
    throw bad('the manifest signature does not verify');
  return expectedSigner;
}

function fromBase64Url(text: string, what: string, length: number): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw bad(`signature ${what} is not base64url without padding`);
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length !== length) throw bad(`signature ${what} must be ${length} bytes`);
  return bytes;
}

function bad(message: string): BundleError {
  return new BundleError(BundleErrorCode.BadSignature, message);
}

/** The one manifest a bundle has, at the top level of the archive. */
export const MANIFEST_PATH = 'manifest.json';
/** The manifest must appear within this many decompressed bytes. */
export const MANIFEST_SCAN_LIMIT_BYTES = 8 * 1024 * 1024;
/** Largest manifest.json. */
export const MANIFEST_MAX_BYTES = 1024 * 1024;
/** Largest whole archive, decompressed: beyond it the bundle is a decompression bomb. */
export const BUNDLE_MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024;
/** The only signature algorithm. */
export const SIGNATURE_ALGORITHM = 'ed25519';
/** The application runtime version this node implements (a bundle's minRuntimeVersion is checked against it). */
export const RUNTIME_VERSION = '0.1.0';
/** Multicodec prefix of an Ed25519 public key in a did:key. */
export const ED25519_MULTICODEC = Buffer.from([0xed, 0x01]);

import { CodedError } from '@cnode/runtime';

/** Why a bundle was refused; each is a distinct code so callers (and tests) can tell them apart. */
export enum BundleErrorCode {
  /** Not a gzip tar, no or several manifest.json, a manifest that does not parse or lacks fields. */
  Malformed = 'APP_BUNDLE_MALFORMED',
  /** An entry or artifact path that is absolute, climbs out (`..`) or uses backslashes. */
  UnsafePath = 'APP_BUNDLE_UNSAFE_PATH',
  /** An artifact whose bytes do not match the manifest's hash or size, or that is missing. */
  HashMismatch = 'APP_BUNDLE_HASH_MISMATCH',
  /** More decompressed bytes than allowed (a decompression bomb), or a manifest too large. */
  TooLarge = 'APP_BUNDLE_TOO_LARGE',
  /** No signature, and the install is strict. */
  Unsigned = 'APP_BUNDLE_UNSIGNED',
  /** A signature that does not verify, an unknown algorithm, or a signerId that is not the key's. */
  BadSignature = 'APP_BUNDLE_BAD_SIGNATURE',
  /** The bundle needs a newer runtime than this node has. */
  RuntimeTooOld = 'APP_BUNDLE_RUNTIME_TOO_OLD',
}

export class BundleError extends CodedError<BundleErrorCode> {
  constructor(code: BundleErrorCode, message: string) {
    super(code, message);
    this.name = 'BundleError';
  }
}

import { aeadOpen, aeadSeal, AEAD_NONCE_BYTES, AEAD_TAG_BYTES } from '@cnode/primitives';
import { CodedError } from '@cnode/runtime';

/**
 * Seals secrets at rest (private keys) under the node's 32-byte master key with AES-256-GCM.
 * Layout: nonce (12) || ciphertext || tag (16). `aad` binds the box to its purpose.
 */
export function seal(masterKey: Uint8Array, plaintext: Uint8Array, aad: string): Buffer {
  assertKey(masterKey);
  const { nonce, ciphertext } = aeadSeal(masterKey, plaintext, Buffer.from(aad));
  return Buffer.concat([nonce, ciphertext]);
}

/** Opens a box made by seal(); a wrong key or a tampered box throws STORE_UNSEAL_FAILED. */
export function unseal(masterKey: Uint8Array, box: Uint8Array, aad: string): Buffer {
  assertKey(masterKey);
  if (box.length < AEAD_NONCE_BYTES + AEAD_TAG_BYTES)
    throw new CodedError('STORE_UNSEAL_FAILED', 'sealed box is too short');
  try {
    return aeadOpen(masterKey, box.subarray(0, AEAD_NONCE_BYTES), box.subarray(AEAD_NONCE_BYTES), Buffer.from(aad));
  } catch (err) {
    throw new CodedError('STORE_UNSEAL_FAILED', 'sealed box does not open with this master key', {}, { cause: err });
  }
}

function assertKey(key: Uint8Array): void {
  if (key.length !== 32) throw new CodedError('STORE_BAD_MASTER_KEY', 'master key must be 32 bytes');
}

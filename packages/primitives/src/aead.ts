import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { sha256 } from './hash.js';
import { PrimitiveError, PrimitiveErrorCode } from './errors.js';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

/** A symmetric key is known by the SHA-256 of its bytes. */
export function keyIdOf(key: Uint8Array): Buffer {
  return sha256(key);
}

export function generateSymmetricKey(): Buffer {
  return randomBytes(AEAD_KEY_BYTES);
}

/** AES-256-GCM with a fresh random nonce; the 16-byte tag is appended to the ciphertext. */
export function aeadSeal(
  key: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
): { nonce: Buffer; ciphertext: Buffer } {
  if (key.length !== AEAD_KEY_BYTES) throw new PrimitiveError(PrimitiveErrorCode.BadKey, 'an AES-256 key is 32 bytes');
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  if (aad) cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { nonce, ciphertext: body };
}

/** Opens what aeadSeal made; any alteration or a wrong key throws CORE_DECRYPT_FAILED. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad?: Uint8Array): Buffer {
  if (key.length !== AEAD_KEY_BYTES || nonce.length !== AEAD_NONCE_BYTES || ciphertext.length < AEAD_TAG_BYTES) {
    throw new PrimitiveError(PrimitiveErrorCode.DecryptFailed, 'malformed key, nonce or ciphertext');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    if (aad) decipher.setAAD(aad);
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - AEAD_TAG_BYTES));
    return Buffer.concat([
      decipher.update(ciphertext.subarray(0, ciphertext.length - AEAD_TAG_BYTES)),
      decipher.final(),
    ]);
  } catch (err) {
    throw new PrimitiveError(
      PrimitiveErrorCode.DecryptFailed,
      'ciphertext does not open with this key',
      {},
      { cause: err },
    );
  }
}

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CodedError } from '@cnode/runtime';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals secrets at rest (private keys) under the node's 32-byte master key with AES-256-GCM.
 * Layout: nonce (12) || ciphertext || tag (16). `aad` binds the box to its purpose.
 */
export function seal(masterKey: Uint8Array, plaintext: Uint8Array, aad: string): Buffer {
  assertKey(masterKey);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', masterKey, nonce);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** Opens a box made by seal(); a wrong key or a tampered box throws STORE_UNSEAL_FAILED. */
export function unseal(masterKey: Uint8Array, box: Uint8Array, aad: string): Buffer {
  assertKey(masterKey);
  if (box.length < NONCE_BYTES + TAG_BYTES) throw new CodedError('STORE_UNSEAL_FAILED', 'sealed box is too short');
  const nonce = box.subarray(0, NONCE_BYTES);
  const tag = box.subarray(box.length - TAG_BYTES);
  const body = box.subarray(NONCE_BYTES, box.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', masterKey, nonce);
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch (err) {
    throw new CodedError('STORE_UNSEAL_FAILED', 'sealed box does not open with this master key', {}, { cause: err });
  }
}

function assertKey(key: Uint8Array): void {
  if (key.length !== 32) throw new CodedError('STORE_BAD_MASTER_KEY', 'master key must be 32 bytes');
}

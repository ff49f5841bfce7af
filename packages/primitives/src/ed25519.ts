import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { processWideCache } from '@cnode/runtime';
import { PrimitiveError, PrimitiveErrorCode } from './errors.js';

/** DER prefixes that wrap a raw 32-byte Ed25519 seed / public key for node:crypto (RFC 8410). */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
export const SIGNATURE_BYTES = 64;

/** An Ed25519 identity: the 32-byte public key is the identity, the 32-byte seed its secret. */
export interface Identity {
  publicKey: Buffer;
  privateKey: Buffer;
}

export function generateIdentity(): Identity {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  return { publicKey: Buffer.from(pub), privateKey: Buffer.from(seed) };
}

/**
 * Signing keys are cached too: importing a key costs ~10× a signature, and a node signs delta after
 * delta with the same few identities. Bounded; keyed by a hash of the private key, never the key itself.
 */
const PRIVATE_KEY_CACHE_MAX = 1024;
const privateKeyCache = processWideCache<string, KeyObject>('signing_keys', PRIVATE_KEY_CACHE_MAX);

function privateKeyObject(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new PrimitiveError(PrimitiveErrorCode.BadKey, 'an Ed25519 private key is 32 bytes');
  const cacheKey = createHash('sha256').update('cnode/signing-key-cache').update(seed).digest('base64');
  let key = privateKeyCache.get(cacheKey);
  if (!key) {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    privateKeyCache.set(cacheKey, key);
  }
  return key;
}

/** Verification keys are cached: the same authors sign delta after delta. Bounded. */
const PUBLIC_KEY_CACHE_MAX = 1024;
const publicKeyCache = processWideCache<string, KeyObject>('verification_keys', PUBLIC_KEY_CACHE_MAX);

function publicKeyObject(publicKey: Uint8Array): KeyObject | undefined {
  if (publicKey.length !== 32) return undefined;
  const cacheKey = Buffer.from(publicKey).toString('hex');
  let key = publicKeyCache.get(cacheKey);
  if (!key) {
    try {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    } catch {
      return undefined;
    }
    publicKeyCache.set(cacheKey, key);
  }
  return key;
}

export function publicKeyOf(privateKey: Uint8Array): Buffer {
  const spki = createPublicKey(privateKeyObject(privateKey)).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(SPKI_PREFIX.length));
}

export function signMessage(privateKey: Uint8Array, message: Uint8Array): Buffer {
  return sign(null, message, privateKeyObject(privateKey));
}

/** False for a bad signature, a malformed signature or a key that is not an Ed25519 point. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  const key = publicKeyObject(publicKey);
  if (!key) return false;
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

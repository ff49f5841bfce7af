import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
} from 'node:crypto';
import type { wire } from '@cnode/proto';
import { aeadOpen, aeadSeal } from './aead.js';
import { PrimitiveError, PrimitiveErrorCode } from './errors.js';

const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const P = 2n ** 255n - 19n;
const ENVELOPE_INFO = 'cnode/key-envelope/v1';

function modPow(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = base % P;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

function leToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function bigIntToLe(n: bigint): Buffer {
  const out = Buffer.alloc(32);
  let v = n;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The X25519 public key of an Ed25519 identity: Montgomery u = (1 + y) / (1 − y) mod p. */
export function x25519PublicFromEd25519(edPublicKey: Uint8Array): Buffer {
  if (edPublicKey.length !== 32)
    throw new PrimitiveError(PrimitiveErrorCode.BadKey, 'an Ed25519 public key is 32 bytes');
  const y = leToBigInt(edPublicKey) & ((1n << 255n) - 1n);
  if (y >= P || y === 1n) throw new PrimitiveError(PrimitiveErrorCode.BadKey, 'not a usable Ed25519 public key');
  const u = ((1n + y) * modPow((1n - y + P) % P, P - 2n)) % P;
  return bigIntToLe(u);
}

/** The X25519 private key of an Ed25519 identity: the first half of SHA-512(seed) (X25519 clamps it). */
export function x25519PrivateFromEd25519(edSeed: Uint8Array): Buffer {
  return createHash('sha512').update(edSeed).digest().subarray(0, 32);
}

function sharedKey(
  privateX: Uint8Array,
  publicX: Uint8Array,
  ephemeralPublic: Uint8Array,
  recipient: Uint8Array,
): Buffer {
  const shared = diffieHellman({
    privateKey: createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, privateX]), format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, publicX]), format: 'der', type: 'spki' }),
  });
  if (shared.every((b) => b === 0))
    throw new PrimitiveError(PrimitiveErrorCode.EnvelopeInvalid, 'degenerate key agreement');
  const info = Buffer.concat([Buffer.from(ENVELOPE_INFO), ephemeralPublic, recipient]);
  return Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), info, 32));
}

/**
 * Seals a group key to one member's Ed25519 identity: X25519 between a fresh ephemeral key and the
 * member's key, HKDF-SHA256 bound to both public keys, AES-256-GCM. Only the member can open it.
 */
export function sealKeyEnvelope(groupKey: Uint8Array, recipient: Uint8Array): wire.KeyEnvelope {
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralPublic = ephemeral.publicKey
    .export({ format: 'der', type: 'spki' })
    .subarray(X25519_SPKI_PREFIX.length);
  const ephemeralPrivate = ephemeral.privateKey
    .export({ format: 'der', type: 'pkcs8' })
    .subarray(X25519_PKCS8_PREFIX.length);
  const key = sharedKey(ephemeralPrivate, x25519PublicFromEd25519(recipient), ephemeralPublic, recipient);
  const { nonce, ciphertext } = aeadSeal(key, groupKey);
  return { recipient: Buffer.from(recipient), ephemeralPublicKey: Buffer.from(ephemeralPublic), nonce, ciphertext };
}

/** Opens an envelope with the recipient's Ed25519 seed; throws CORE_ENVELOPE_INVALID or CORE_DECRYPT_FAILED. */
export function openKeyEnvelope(
  envelope: wire.KeyEnvelope,
  recipientSeed: Uint8Array,
  recipientPublic: Uint8Array,
): Buffer {
  if (Buffer.compare(envelope.recipient, recipientPublic) !== 0) {
    throw new PrimitiveError(PrimitiveErrorCode.EnvelopeInvalid, 'envelope is addressed to another identity');
  }
  if (envelope.ephemeralPublicKey.length !== 32) {
    throw new PrimitiveError(PrimitiveErrorCode.EnvelopeInvalid, 'malformed ephemeral key');
  }
  const key = sharedKey(
    x25519PrivateFromEd25519(recipientSeed),
    envelope.ephemeralPublicKey,
    envelope.ephemeralPublicKey,
    recipientPublic,
  );
  return aeadOpen(key, envelope.nonce, envelope.ciphertext);
}

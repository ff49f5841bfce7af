import type { wire } from '@cnode/proto';
import { CanonicalWriter } from './canonical.js';
import { signMessage, verifySignature, SIGNATURE_BYTES, type Identity } from './ed25519.js';
import { ID_BYTES } from './ids.js';

const BLOB_AUTH_DOMAIN = 'cnode/blob-auth/v1';
/** How old a blob token may be when it arrives. */
export const BLOB_AUTH_MAX_AGE_S = 30;
/** How far ahead of the provider's clock a blob token may be. */
export const BLOB_AUTH_MAX_AHEAD_S = 10;

/** Why a provider refused a blob token. Metric label values. */
export enum BlobAuthRefusal {
  Missing = 'no_auth',
  Malformed = 'auth_malformed',
  Expired = 'auth_expired',
  BadSignature = 'bad_signature',
}

export interface BlobAuthScope {
  blobId: Uint8Array;
  contextId: Uint8Array;
  /** The requester's libp2p peer id: a token is good for the peer that asked for it only. */
  requesterPeer: string;
}

function blobAuthPayload(scope: BlobAuthScope, timestampS: bigint): Buffer {
  return new CanonicalWriter()
    .string(BLOB_AUTH_DOMAIN)
    .raw(scope.blobId)
    .raw(scope.contextId)
    .string(scope.requesterPeer)
    .u64(timestampS)
    .finish();
}

/** Upstream's `create_blob_auth`: a short-lived token of `member` for one blob of one context. */
export function createBlobAuth(member: Identity, scope: BlobAuthScope, nowMs = Date.now()): wire.BlobAuth {
  const timestampS = BigInt(Math.floor(nowMs / 1000));
  return {
    publicKey: Buffer.from(member.publicKey),
    signature: signMessage(member.privateKey, blobAuthPayload(scope, timestampS)),
    timestampS,
  };
}

/**
 * Checks a blob token against the request it came with and the stream's actual remote peer: the
 * signer's key when it holds (membership is the caller's to check), else why not.
 */
export function checkBlobAuth(
  auth: wire.BlobAuth | undefined,
  scope: BlobAuthScope,
  nowMs = Date.now(),
): { member: Buffer } | { refused: BlobAuthRefusal } {
  if (!auth) return { refused: BlobAuthRefusal.Missing };
  if (auth.publicKey.length !== ID_BYTES || auth.signature.length !== SIGNATURE_BYTES) {
    return { refused: BlobAuthRefusal.Malformed };
  }
  const nowS = Math.floor(nowMs / 1000);
  const ts = Number(auth.timestampS);
  if (ts < nowS - BLOB_AUTH_MAX_AGE_S || ts > nowS + BLOB_AUTH_MAX_AHEAD_S) return { refused: BlobAuthRefusal.Expired };
  if (!verifySignature(auth.publicKey, blobAuthPayload(scope, auth.timestampS), auth.signature)) {
    return { refused: BlobAuthRefusal.BadSignature };
  }
  return { member: Buffer.from(auth.publicKey) };
}

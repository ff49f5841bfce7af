import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { sha256 } from 'multiformats/hashes/sha2';
import * as raw from 'multiformats/codecs/raw';
import { DHT_RECORD_NAMESPACE } from '../constants.js';
import { NetworkError, NetworkErrorCode } from '../errors.js';

const KEY_BYTES = 32;

function checkKey(key: Uint8Array): void {
  if (key.length !== KEY_BYTES) {
    throw new NetworkError(
      NetworkErrorCode.BadArgument,
      `a DHT key is a ${KEY_BYTES}-byte SHA-256 digest, got ${key.length} bytes`,
    );
  }
}

/** The CID providers are announced under: raw codec, the key as its SHA-256 multihash. */
export function providerCid(key: Uint8Array): CID {
  checkKey(key);
  return CID.createV1(raw.code, Digest.create(sha256.code, key));
}

/** The Kademlia record key of a 32-byte key: `/calimero/<hex>`. */
export function recordKey(key: Uint8Array): Uint8Array {
  checkKey(key);
  return new TextEncoder().encode(`/${DHT_RECORD_NAMESPACE}/${Buffer.from(key).toString('hex')}`);
}

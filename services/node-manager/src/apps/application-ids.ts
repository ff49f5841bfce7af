import { sha256 } from '@cnode/primitives';

function lengthPrefixed(bytes: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32LE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** A bundle's application id: over package and signer, so every version of a package by one signer is one application. */
export function bundleApplicationId(pkg: string, signerId: string): Buffer {
  return sha256(
    Buffer.from('cnode/application/bundle/v1'),
    lengthPrefixed(Buffer.from(pkg)),
    lengthPrefixed(Buffer.from(signerId)),
  );
}

/** A raw wasm install's id: over its blob id, size, source and metadata. */
export function wasmApplicationId(blobId: Uint8Array, size: number, source: string, metadata: Uint8Array): Buffer {
  const sizeBytes = Buffer.alloc(8);
  sizeBytes.writeBigUInt64LE(BigInt(size));
  return sha256(
    Buffer.from('cnode/application/wasm/v1'),
    blobId,
    sizeBytes,
    lengthPrefixed(Buffer.from(source)),
    lengthPrefixed(metadata),
  );
}

import { createHash } from 'node:crypto';

/** SHA-256 over the concatenation of the parts. */
export function sha256(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** SHA-256 of a domain-separated, length-prefixed list of parts: no two lists collide. */
export function domainHash(domain: string, parts: Uint8Array[]): Buffer {
  const hash = createHash('sha256');
  const len = Buffer.alloc(8);
  const domainBytes = Buffer.from(domain);
  len.writeBigUInt64LE(BigInt(domainBytes.length));
  hash.update(len).update(domainBytes);
  for (const part of parts) {
    len.writeBigUInt64LE(BigInt(part.length));
    hash.update(len).update(part);
  }
  return hash.digest();
}

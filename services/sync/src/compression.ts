import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { ContextError, ContextErrorCode } from '@cnode/context-core';

/** Raw deflate, as snapshot pages and compressed tree answers carry it. */
export function deflate(body: Uint8Array): Buffer {
  return deflateRawSync(body);
}

/**
 * Inflates what a peer sent, which must come to exactly the size it declared, and at most `maxBytes`.
 * The declared size bounds the output before anything is inflated: a decompression bomb stops
 * there. Throws SYNC_BAD_ANSWER naming `what`.
 */
export function inflateDeclared(payload: Uint8Array, declaredBytes: number, maxBytes: number, what: string): Buffer {
  const bad = (why: string): never => {
    throw new ContextError(ContextErrorCode.BadAnswer, `${what} refused: ${why}`);
  };
  if (declaredBytes > maxBytes) bad('declares an oversize body');
  let body: Buffer;
  try {
    body = inflateRawSync(payload, { maxOutputLength: Math.max(1, declaredBytes) });
  } catch {
    return bad('does not decompress within its declared size');
  }
  if (body.length !== declaredBytes) bad('body size differs from the declared size');
  return body;
}

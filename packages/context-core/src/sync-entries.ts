import { assertNotFromFuture, decodeHlc, HLC_BYTES, ID_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES } from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import type { SyncEntry } from '@cnode/store';
import { ContextError, ContextErrorCode } from './errors.js';

export function entryToWire(e: SyncEntry): wire.StateEntry {
  return {
    key: e.key,
    value: e.value ?? Buffer.alloc(0),
    hlc: e.hlc,
    deleted: e.deleted,
    author: e.author ?? Buffer.alloc(0),
  };
}

/**
 * A state entry from a peer, checked before it may touch our state: sizes, a well-formed HLC that
 * is not from the future (an entry stamped far ahead would win every later write), an author key.
 * Throws SYNC_BAD_ANSWER naming what is wrong.
 */
export function entryFromWire(e: wire.StateEntry, nowMs = Date.now()): SyncEntry {
  const bad = (why: string): never => {
    throw new ContextError(ContextErrorCode.BadAnswer, `state entry refused: ${why}`);
  };
  if (e.key.length === 0 || e.key.length > MAX_KEY_BYTES) bad(`keys are 1 to ${MAX_KEY_BYTES} bytes`);
  if (e.value.length > MAX_VALUE_BYTES) bad(`values are at most ${MAX_VALUE_BYTES} bytes`);
  if (e.deleted && e.value.length > 0) bad('a tombstone carries no value');
  if (e.hlc.length !== HLC_BYTES) bad(`HLCs are ${HLC_BYTES} bytes`);
  if (e.author.length !== 0 && e.author.length !== ID_BYTES) bad('authors are 32-byte keys');
  try {
    assertNotFromFuture(decodeHlc(e.hlc), nowMs);
  } catch (err) {
    bad((err as Error).message);
  }
  return {
    key: Buffer.from(e.key),
    value: e.deleted ? null : Buffer.from(e.value),
    hlc: Buffer.from(e.hlc),
    deleted: e.deleted,
    author: e.author.length ? Buffer.from(e.author) : null,
  };
}

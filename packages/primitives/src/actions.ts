import type { wire } from '@cnode/proto';
import { type CanonicalWriter } from './canonical.js';
import { sha256 } from './hash.js';
import { encodeHlc, hlcFromWire, hlcToWire, type Hlc } from './hlc.js';
import { ZERO_ID } from './ids.js';
import { PrimitiveError, PrimitiveErrorCode } from './errors.js';

/** Largest key of a state entry. */
export const MAX_KEY_BYTES = 4096;
/** Largest value of a state entry (a delta's whole plaintext is capped at 1 MiB anyway). */
export const MAX_VALUE_BYTES = 1024 * 1024;

/** One state change. Entries are last-writer-wins on the HLC, with the tie rules of compareOps. */
export type Action = { kind: 'set'; key: Buffer; value: Buffer; at: Hlc } | { kind: 'remove'; key: Buffer; at: Hlc };

/** Rank used when two operations on one key carry the same HLC: a delete beats a write. */
export function opRank(action: Action): number {
  return action.kind === 'remove' ? 1 : 0;
}

/** SHA-256 of a written value; the zero hash for a delete. */
export function opValueHash(action: Action): Buffer {
  return action.kind === 'set' ? sha256(action.value) : ZERO_ID;
}

/**
 * The total order of operations on one key; an entry always holds the greatest operation it has
 * seen. Later HLC wins; on an equal HLC a delete wins (so a deleted entry returns only with a
 * strictly newer write); between equal-HLC writes the higher SHA-256 of the value wins. Taking the
 * maximum is commutative, associative and idempotent: every delivery order converges.
 */
export function compareOps(a: Action, b: Action): number {
  return (
    Buffer.compare(encodeHlc(a.at), encodeHlc(b.at)) ||
    opRank(a) - opRank(b) ||
    Buffer.compare(opValueHash(a), opValueHash(b))
  );
}

/** Keeps, per key, only the greatest operation (what applying all of them in any order leaves). */
export function reduceActions(actions: readonly Action[]): Action[] {
  const byKey = new Map<string, Action>();
  for (const action of actions) {
    const id = action.key.toString('hex');
    const current = byKey.get(id);
    if (!current || compareOps(action, current) > 0) byKey.set(id, action);
  }
  return [...byKey.values()];
}

/** Canonical bytes of an action list, as hashed into the delta id. */
export function writeActions(w: CanonicalWriter, actions: readonly Action[]): void {
  w.list(actions, (a) => {
    w.u8(opRank(a)).bytes(a.key).raw(encodeHlc(a.at));
    if (a.kind === 'set') w.bytes(a.value);
  });
}

function checkKey(key: Uint8Array): void {
  if (key.length === 0 || key.length > MAX_KEY_BYTES) {
    throw new PrimitiveError(PrimitiveErrorCode.PayloadMalformed, `entry keys are 1 to ${MAX_KEY_BYTES} bytes`);
  }
}

export function actionsFromWire(actions: readonly wire.Action[]): Action[] {
  return actions.map((a) => {
    const kind = a.kind;
    if (kind?.$case === 'set') {
      checkKey(kind.set.key);
      if (kind.set.value.length > MAX_VALUE_BYTES) {
        throw new PrimitiveError(
          PrimitiveErrorCode.PayloadMalformed,
          `entry values are at most ${MAX_VALUE_BYTES} bytes`,
        );
      }
      return {
        kind: 'set',
        key: Buffer.from(kind.set.key),
        value: Buffer.from(kind.set.value),
        at: hlcFromWire(kind.set.updatedAt),
      };
    }
    if (kind?.$case === 'remove') {
      checkKey(kind.remove.key);
      return { kind: 'remove', key: Buffer.from(kind.remove.key), at: hlcFromWire(kind.remove.deletedAt) };
    }
    throw new PrimitiveError(PrimitiveErrorCode.PayloadMalformed, 'an action with no kind');
  });
}

export function actionsToWire(actions: readonly Action[]): wire.Action[] {
  return actions.map((a) =>
    a.kind === 'set'
      ? { kind: { $case: 'set', set: { key: a.key, value: a.value, updatedAt: hlcToWire(a.at) } } }
      : { kind: { $case: 'remove', remove: { key: a.key, deletedAt: hlcToWire(a.at) } } },
  );
}

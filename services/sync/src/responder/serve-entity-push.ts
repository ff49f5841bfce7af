import { SyncRefusal, entryFromWire, syncError } from '@cnode/context-core';
import type { wire } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import { MAX_PUSHED_ENTRIES } from '../constants.js';
import type { ResponderDeps } from './deps.js';

/**
 * Merges entries a member pushed (the initiator's half of a bidirectional hash comparison), last
 * writer wins exactly as deltas merge. Every entry is validated first; one bad entry refuses the push.
 */
export async function serveEntityPush(
  deps: ResponderDeps,
  contextId: Buffer,
  req: wire.EntityPush,
): Promise<wire.SyncStreamMessage> {
  if (req.entries.length > MAX_PUSHED_ENTRIES) {
    return syncError(SyncRefusal.Malformed, `at most ${MAX_PUSHED_ENTRIES} entries per push`);
  }
  let entries;
  try {
    entries = req.entries.map((e) => entryFromWire(e));
  } catch (err) {
    return syncError(SyncRefusal.Malformed, errorMessage(err));
  }
  const { changed } = await deps.stateSync.mergeEntries(contextId, entries);
  deps.metrics.entitiesMerged.inc({ direction: 'pushed_to_us' }, changed);
  return { payload: { $case: 'entityPushAck', entityPushAck: { applied: changed } } };
}

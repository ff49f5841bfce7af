import type { StateStore } from '@cnode/store';

/** Ids a DeltaRequest names as held (responders read at most 64). */
export const KNOWN_IDS_SENT = 64;

/**
 * What a DeltaRequest tells the responder we hold: our heads and, for a context that began with a
 * snapshot, its checkpoints (we hold their effects but not their history). The responder stops its
 * walk at them and leaves out their ancestors, so we are not sent history the snapshot covers.
 */
export async function knownForRequest(states: StateStore, contextId: Buffer): Promise<Buffer[]> {
  const heads = (await states.context(contextId))?.heads ?? [];
  const known = heads.slice(0, KNOWN_IDS_SENT);
  const seen = new Set(known.map((h) => h.toString('hex')));
  for (const c of await states.checkpoints(contextId, KNOWN_IDS_SENT - known.length)) {
    if (!seen.has(c.toString('hex'))) known.push(c);
  }
  return known;
}

import { ID_BYTES } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { MAX_DELTAS_SERVED, MAX_KNOWN_HEADS, MAX_RESPONSE_BYTES, MAX_WANTED_IDS } from '../constants.js';
import type { ResponderDeps } from './deps.js';

/**
 * Answers a DeltaRequest: the wanted deltas and their ancestors down to the requester's heads, the
 * oldest (or, when asked, the newest) of that gap.
 */
export async function serveDeltaRequest(deps: ResponderDeps, req: wire.DeltaRequest): Promise<wire.SyncStreamMessage> {
  const ids = (list: Uint8Array[], max: number): Buffer[] =>
    list
      .slice(0, max)
      .filter((id) => id.length === ID_BYTES)
      .map((id) => Buffer.from(id));
  const max = Math.min(req.maxDeltas || MAX_DELTAS_SERVED, MAX_DELTAS_SERVED);
  const found = await deps.states.deltasForPeer(
    Buffer.from(req.contextId),
    ids(req.wanted, MAX_WANTED_IDS),
    ids(req.knownHeads, MAX_KNOWN_HEADS),
    max,
    { newestFirst: req.newestFirst },
  );
  // Keep the answer under the frame cap. The list is ancestors first, so trimming the tail keeps
  // what the requester can apply right away.
  let bytes = 0;
  let keep = 0;
  for (const d of found.deltas) {
    bytes += wire.StateDelta.encode(d).finish().length + 8;
    if (bytes > MAX_RESPONSE_BYTES) break;
    keep++;
  }
  deps.metrics.deltasServed.inc(keep);
  return {
    payload: {
      $case: 'deltaResponse',
      deltaResponse: { deltas: found.deltas.slice(0, keep), truncated: found.truncated || keep < found.deltas.length },
    },
  };
}

import type { wire } from '@cnode/proto';
import type { ContextState } from '@cnode/store';

/** Answers a DagHeadsRequest with the context's heads and root hash. */
export function serveDagHeads(ctx: ContextState): wire.SyncStreamMessage {
  return { payload: { $case: 'dagHeadsResponse', dagHeadsResponse: { heads: ctx.heads, rootHash: ctx.rootHash } } };
}

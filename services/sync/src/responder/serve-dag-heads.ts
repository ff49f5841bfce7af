import type { wire } from '@cnode/proto';
import type { ContextState } from '@cnode/store';
import type { ResponderDeps } from './deps.js';

/** Answers a DagHeadsRequest: heads, root hash, live entry count, and whether we have state at all. */
export async function serveDagHeads(
  deps: ResponderDeps,
  contextId: Buffer,
  ctx: ContextState,
): Promise<wire.SyncStreamMessage> {
  const entryCount = ctx.initialized ? await deps.stateSync.entryCount(contextId) : 0;
  return {
    payload: {
      $case: 'dagHeadsResponse',
      dagHeadsResponse: {
        heads: ctx.heads,
        rootHash: ctx.rootHash,
        entryCount: BigInt(entryCount),
        initialized: ctx.initialized,
      },
    },
  };
}

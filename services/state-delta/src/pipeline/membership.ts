import { ingestGroupOps, type HostedContext } from '@cnode/context-core';
import { toBase58, type Identity, type VerifiedDelta } from '@cnode/primitives';
import { errorMessage } from '@cnode/runtime';
import type { PipelineDeps } from './deps.js';

/**
 * Whether the delta's author is a member of the context's group. When it is not (yet) and the delta
 * cites governance ops this node has not applied, the ops are fetched from the peer that sent the
 * delta (governance catch-up) and the check runs again: a member added after our last governance
 * update is not refused for our being behind.
 */
export async function authorIsMember(
  deps: PipelineDeps,
  ctx: HostedContext,
  delta: VerifiedDelta,
  sourcePeer: string,
  ourMember: () => Promise<Identity | undefined>,
): Promise<boolean> {
  if (await deps.groups.isMember(ctx.groupId, delta.author)) return true;
  const known = await deps.groups.appliedAmong(ctx.groupId, delta.governanceHeads);
  if (known.length === delta.governanceHeads.length || !sourcePeer) return false;
  const me = await ourMember();
  if (!me) return false;
  try {
    const answer = await deps.sync.fetchGroupOps(sourcePeer, me, ctx.groupId);
    const { outcomes } = await ingestGroupOps(deps, answer.ops);
    deps.metrics.governanceFetches.inc({ outcome: 'ok' });
    deps.logger.info({ context: toBase58(ctx.id), peer: sourcePeer, outcomes }, 'Caught up governance ops');
  } catch (err) {
    deps.metrics.governanceFetches.inc({ outcome: 'failed' });
    deps.logger.warn(
      { context: toBase58(ctx.id), peer: sourcePeer, err: errorMessage(err) },
      'Governance catch-up failed',
    );
    return false;
  }
  return deps.groups.isMember(ctx.groupId, delta.author);
}

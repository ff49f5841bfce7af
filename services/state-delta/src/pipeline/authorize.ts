import { CutVerdict, DivergencePlane, authorAtCut, reportDivergence, type HostedContext } from '@cnode/context-core';
import { toBase58, type Identity, type VerifiedDelta } from '@cnode/primitives';
import type { PipelineDeps } from './deps.js';

/**
 * Delta authorisation at a cut (the primary gossip path): the author's membership at the governance
 * heads the delta cites decides, the same on every node that knows the cut. When some cited op is
 * not applied here, the group's ops we lack are caught up from the peer that sent the delta (spaced
 * per peer) and the cut is asked again; still unknown means the caller parks the delta.
 *
 * Live membership is the cross-check: a delta the cut accepts from an author the live view does not
 * hold a member (a write signed before a removal this node already applied) is applied, and reported
 * as unified_projection_divergence on the membership-cut-grant plane.
 */
export async function authorizeAtCut(
  deps: PipelineDeps,
  ctx: HostedContext,
  delta: VerifiedDelta,
  sourcePeer: string,
  ourMember: () => Promise<Identity | undefined>,
): Promise<CutVerdict> {
  let verdict = await authorAtCut(deps.groups, ctx.groupId, delta.author, delta.governanceHeads);
  if (verdict === CutVerdict.Unknown && sourcePeer) {
    const me = await ourMember();
    const caughtUp = me && (await deps.sync.catchUpGovernance(ctx.groupId, sourcePeer, me));
    deps.metrics.governanceFetches.inc({ outcome: caughtUp ? 'ok' : 'failed' });
    if (caughtUp) verdict = await authorAtCut(deps.groups, ctx.groupId, delta.author, delta.governanceHeads);
  }
  if (verdict === CutVerdict.Member) await crossCheckGrant(deps, ctx, delta, sourcePeer);
  return verdict;
}

/** After the cut granted a delta: report when the live view would have refused its author. */
export async function crossCheckGrant(
  deps: PipelineDeps,
  ctx: HostedContext,
  delta: VerifiedDelta,
  peer?: string,
): Promise<void> {
  const { live } = await deps.hot.standing(ctx.groupId, delta.author);
  if (live === 'member') return;
  reportDivergence(deps.logger, deps.metrics.projectionDivergences, {
    plane: DivergencePlane.MembershipCutGrant,
    groupId: ctx.groupId,
    contextId: ctx.id,
    identity: delta.author,
    deltaId: delta.deltaId,
    projection: true,
    live,
    peer,
  });
}

/** The log fields naming a delta. */
export function deltaFields(ctx: HostedContext, delta: VerifiedDelta, peer?: string): Record<string, string> {
  return {
    context: toBase58(ctx.id),
    delta: toBase58(delta.deltaId),
    author: toBase58(delta.author),
    ...(peer ? { source: peer } : {}),
  };
}

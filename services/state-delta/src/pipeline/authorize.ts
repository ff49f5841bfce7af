import { CutVerdict, DivergencePlane, authorAtCut, reportDivergence, type HostedContext } from '@cnode/context-core';
import { toBase58, type Identity, type VerifiedDelta } from '@cnode/primitives';
import type { PipelineDeps } from './deps.js';

/**
 * Delta authorisation at a cut (the primary gossip path): the author's membership at the governance
 * heads the delta cites decides, the same on every node that knows the cut. When some cited op is
 * not applied here and `catchUp` allows, the group's ops we lack are caught up from the peer that
 * sent the delta (spaced per peer) and the cut is asked again; still unknown means the caller parks
 * the delta (or, without catch-up, takes the slow path that may catch up).
 *
 * Live membership is the cross-check (`crossCheckGrant`), run by the caller once it knows the delta
 * is new here: a delta the cut accepts from an author the live view does not hold a member (a write
 * signed before a removal this node already applied) is applied, and reported as a divergence.
 */
export async function verdictAtCut(
  deps: PipelineDeps,
  ctx: HostedContext,
  delta: VerifiedDelta,
  sourcePeer: string,
  catchUp: { ourMember: () => Promise<Identity | undefined> } | undefined,
): Promise<CutVerdict> {
  const verdict = await authorAtCut(deps.groups, ctx.groupId, delta.author, delta.governanceHeads);
  if (verdict !== CutVerdict.Unknown || !sourcePeer || !catchUp) return verdict;
  const me = await catchUp.ourMember();
  const caughtUp = me && (await deps.sync.catchUpGovernance(ctx.groupId, sourcePeer, me));
  deps.metrics.governanceFetches.inc({ outcome: caughtUp ? 'ok' : 'failed' });
  return caughtUp ? authorAtCut(deps.groups, ctx.groupId, delta.author, delta.governanceHeads) : verdict;
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

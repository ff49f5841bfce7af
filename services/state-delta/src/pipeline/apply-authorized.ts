import { DeltaOutcomeLabel, openAndAdd, type HostedContext } from '@cnode/context-core';
import type { Identity, VerifiedDelta } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { BufferOutcome } from '@cnode/store';
import type { PipelineDeps } from './deps.js';
import { fetchMissingParents } from './parent-fetcher.js';

/**
 * The tail of the pipeline once a delta is authorised (gossip, or a governance-pending drain):
 * buffer while the context has no state (a snapshot is due), else open with the group key, check the
 * content address, add to the DAG (pending when parents are missing), fetch missing parents from the
 * source, and announce the new heads.
 */
export async function applyAuthorized(
  deps: PipelineDeps,
  ctx: HostedContext,
  verified: VerifiedDelta,
  delta: wire.StateDelta,
  sourcePeer: string,
): Promise<DeltaOutcomeLabel> {
  const state = await deps.states.context(ctx.id);
  if (!state) return DeltaOutcomeLabel.UnknownContext;
  if (!state.initialized) {
    const outcome = await deps.buffers.push(ctx.id, {
      deltaId: verified.deltaId,
      hlc: verified.hlc,
      parents: verified.parents,
      sourcePeer: sourcePeer || null,
      delta: Buffer.from(wire.StateDelta.encode(delta).finish()),
    });
    if (outcome === BufferOutcome.AddedEvictingOldest) {
      deps.metrics.bufferEvictions.inc();
      deps.logger.warn({ context: ctx.id.toString('hex') }, 'Delta buffer full: evicted the oldest buffered delta');
    }
    if (outcome === BufferOutcome.Duplicate) return DeltaOutcomeLabel.Duplicate;
    // A snapshot committed since we read the context: the delta applies like any other.
    if (outcome !== BufferOutcome.ContextInitialized) return DeltaOutcomeLabel.Buffered;
  }

  const { label, result } = await openAndAdd(deps, ctx, verified);
  if (result && result.applied.length > 0) deps.heartbeat.afterApply(ctx.id, result.rootHash, result.heads);
  const member = result && result.missingParents.length > 0 && sourcePeer ? await ourMember(deps, ctx) : undefined;
  if (member) {
    const before = await deps.states.pendingCount(ctx.id);
    await fetchMissingParents(deps, ctx, sourcePeer, member);
    const after = await deps.states.context(ctx.id);
    if (after && (await deps.states.pendingCount(ctx.id)) < before) {
      deps.heartbeat.afterApply(ctx.id, after.rootHash, after.heads);
    }
  }
  return label;
}

/** One of our identities in the context, to prove membership to peers we fetch from. */
export async function ourMember(deps: PipelineDeps, ctx: HostedContext): Promise<Identity | undefined> {
  const [me] = await deps.hot.ownedIdentities(ctx.id);
  return me;
}

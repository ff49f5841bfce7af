import { checkEnvelope, openAndAdd, refusalOf, type HostedContext } from '@cnode/context-core';
import { ID_BYTES, toBase58, type Identity } from '@cnode/primitives';
import { bus, wire } from '@cnode/proto';
import { BufferOutcome } from '@cnode/store';
import { DeltaOutcomeLabel } from '../metrics.js';
import type { PipelineDeps } from './deps.js';
import { authorIsMember } from './membership.js';
import { fetchMissingParents } from './parent-fetcher.js';

/** Payload decoder of the STATE_DELTA consumer; a throw marks the message as poison. */
export function decodeStateDeltaReceived(data: Uint8Array): bus.StateDeltaReceived {
  return bus.StateDeltaReceived.decode(data);
}

/**
 * The StateDelta pipeline (reference §2.4): context known → envelope (structure, HLC, signature) →
 * own echo → author is a member (with governance catch-up) → buffer while the context has no state
 * (a snapshot is due) → open with the group key and check the content address → add to the DAG
 * (pending when parents are missing) → fetch missing parents from the source → heartbeat. Every
 * outcome is counted; refusals are acked (never retried), infrastructure failures are retried.
 */
export async function handleStateDelta(deps: PipelineDeps, message: bus.StateDeltaReceived): Promise<void> {
  const label = await process(deps, message);
  deps.metrics.outcomes.inc({ outcome: label, via: 'gossip' });
}

async function process(deps: PipelineDeps, message: bus.StateDeltaReceived): Promise<DeltaOutcomeLabel> {
  const delta = message.delta;
  if (!delta || delta.contextId.length !== ID_BYTES) return DeltaOutcomeLabel.Malformed;
  const contextId = Buffer.from(delta.contextId);
  const state = await deps.states.context(contextId);
  if (!state?.groupId) return DeltaOutcomeLabel.UnknownContext;
  const ctx: HostedContext = { id: contextId, groupId: state.groupId };

  let verified;
  try {
    verified = checkEnvelope(delta);
  } catch (err) {
    const refusal = refusalOf(err);
    if (!refusal) throw err;
    return refusal;
  }
  if (await deps.states.hasDelta(ctx.id, verified.deltaId)) {
    return (await deps.identities.isOwned(ctx.id, verified.author))
      ? DeltaOutcomeLabel.OwnEcho
      : DeltaOutcomeLabel.Duplicate;
  }
  // Our identity (a private key to unseal) is needed only to prove membership to a peer we fetch from.
  const me = (): Promise<Identity | undefined> => ourMember(deps, ctx);
  if (!(await authorIsMember(deps, ctx, verified, message.sourcePeer, me))) {
    deps.logger.warn(
      { context: toBase58(ctx.id), author: toBase58(verified.author), source: message.sourcePeer },
      'Refused a delta from a non-member',
    );
    return DeltaOutcomeLabel.NotMember;
  }

  if (!state.initialized) {
    const outcome = await deps.buffers.push(ctx.id, {
      deltaId: verified.deltaId,
      hlc: verified.hlc,
      parents: verified.parents,
      sourcePeer: message.sourcePeer || null,
      delta: Buffer.from(wire.StateDelta.encode(delta).finish()),
    });
    if (outcome === BufferOutcome.AddedEvictingOldest) {
      deps.metrics.bufferEvictions.inc();
      deps.logger.warn({ context: toBase58(ctx.id) }, 'Delta buffer full: evicted the oldest buffered delta');
    }
    if (outcome === BufferOutcome.Duplicate) return DeltaOutcomeLabel.Duplicate;
    // A snapshot committed since we read the context: the delta applies like any other.
    if (outcome !== BufferOutcome.ContextInitialized) return DeltaOutcomeLabel.Buffered;
  }

  const { label, result } = await openAndAdd(deps, ctx, verified);
  if (result && result.applied.length > 0) deps.heartbeat.afterApply(ctx.id, result.rootHash, result.heads);
  const member = result && result.missingParents.length > 0 && message.sourcePeer ? await me() : undefined;
  if (member) {
    const before = await deps.states.pendingCount(ctx.id);
    await fetchMissingParents(deps, ctx, message.sourcePeer, member);
    const after = await deps.states.context(ctx.id);
    if (after && (await deps.states.pendingCount(ctx.id)) < before) {
      deps.heartbeat.afterApply(ctx.id, after.rootHash, after.heads);
    }
  }
  return label;
}

/** One of our identities in the context, to prove membership to peers we fetch from. */
async function ourMember(deps: PipelineDeps, ctx: HostedContext): Promise<Identity | undefined> {
  const [me] = await deps.identities.owned(ctx.id);
  return me;
}

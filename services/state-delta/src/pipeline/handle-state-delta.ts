import { CutVerdict, checkEnvelope, refusalOf, type HostedContext } from '@cnode/context-core';
import { ID_BYTES } from '@cnode/primitives';
import { bus } from '@cnode/proto';
import { ParkOutcome } from '@cnode/store';
import { DeltaOutcomeLabel } from '../metrics.js';
import { applyAuthorized, ourMember } from './apply-authorized.js';
import { authorizeAtCut, deltaFields } from './authorize.js';
import type { PipelineDeps } from './deps.js';
import { drainGovernancePending, parkForGovernance } from './governance-drain.js';

/** Payload decoder of the STATE_DELTA consumer; a throw marks the message as poison. */
export function decodeStateDeltaReceived(data: Uint8Array): bus.StateDeltaReceived {
  return bus.StateDeltaReceived.decode(data);
}

/**
 * The StateDelta pipeline (reference §2.4): context known → drain the context's governance-pending
 * deltas → envelope (structure, HLC, signature) → own echo → the author's membership at the
 * governance cut it cites (after a governance catch-up from the source when the cut is not known;
 * still unknown → parked) → buffer while the context has no state (a snapshot is due) → open with the
 * group key and check the content address → add to the DAG (pending when parents are missing) →
 * fetch missing parents from the source → heartbeat. Every outcome is counted; refusals are acked
 * (never retried), infrastructure failures are retried.
 */
export async function handleStateDelta(deps: PipelineDeps, message: bus.StateDeltaReceived): Promise<void> {
  const label = await process(deps, message);
  deps.metrics.outcomes.inc({ outcome: label, via: 'gossip' });
}

const REFUSED_AT_CUT: Partial<Record<CutVerdict, DeltaOutcomeLabel>> = {
  [CutVerdict.NotMember]: DeltaOutcomeLabel.NotMember,
  [CutVerdict.ReadOnly]: DeltaOutcomeLabel.ReadOnly,
  [CutVerdict.NoPosition]: DeltaOutcomeLabel.NoGovernancePosition,
};

async function process(deps: PipelineDeps, message: bus.StateDeltaReceived): Promise<DeltaOutcomeLabel> {
  const delta = message.delta;
  if (!delta || delta.contextId.length !== ID_BYTES) return DeltaOutcomeLabel.Malformed;
  const contextId = Buffer.from(delta.contextId);
  const state = await deps.states.context(contextId);
  if (!state?.groupId) return DeltaOutcomeLabel.UnknownContext;
  const ctx: HostedContext = { id: contextId, groupId: state.groupId };
  await drainGovernancePending(deps, ctx.id, bus.DrainTrigger.DRAIN_TRIGGER_DELTA_RECEIPT);

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
  const verdict = await authorizeAtCut(deps, ctx, verified, message.sourcePeer, () => ourMember(deps, ctx));
  if (verdict === CutVerdict.Unknown) {
    const parked = await parkForGovernance(deps, ctx, verified, delta, message.sourcePeer);
    return parked === ParkOutcome.Duplicate ? DeltaOutcomeLabel.Duplicate : DeltaOutcomeLabel.GovernancePending;
  }
  const refused = REFUSED_AT_CUT[verdict];
  if (refused) {
    deps.logger.warn(
      { ...deltaFields(ctx, verified, message.sourcePeer), outcome: refused },
      'Refused a delta: its author may not write at the governance cut it cites',
    );
    return refused;
  }
  return applyAuthorized(deps, ctx, verified, delta, message.sourcePeer);
}

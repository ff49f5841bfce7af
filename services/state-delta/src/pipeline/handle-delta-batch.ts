import { CutVerdict, STORE_OUTCOME_LABEL, checkEnvelope, refusalOf, type HostedContext } from '@cnode/context-core';
import { ID_BYTES, openVerifiedDelta, toBase58, type OpenedDelta, type VerifiedDelta } from '@cnode/primitives';
import { bus } from '@cnode/proto';
import { memoPerBatch } from '@cnode/runtime';
import { DeltaOutcome, ParkOutcome } from '@cnode/store';
import { DeltaOutcomeLabel } from '../metrics.js';
import { applyAuthorized, ourMember } from './apply-authorized.js';
import { authorizeAtCut, deltaFields } from './authorize.js';
import type { PipelineDeps } from './deps.js';
import { drainGovernancePending, parkForGovernance } from './governance-drain.js';
import { fetchMissingParents } from './parent-fetcher.js';

/** Payload decoder of the STATE_DELTA consumer; a throw marks the message as poison. */
export function decodeStateDeltaReceived(data: Uint8Array): bus.StateDeltaReceived {
  return bus.StateDeltaReceived.decode(data);
}

/** The lane of a received delta: its context (base58), or one lane for everything malformed. */
export const MALFORMED_LANE = '-';

export function laneOfDelta(message: bus.StateDeltaReceived): string {
  const id = message.delta?.contextId;
  return id && id.length === ID_BYTES ? toBase58(id) : MALFORMED_LANE;
}

const REFUSED_AT_CUT: Partial<Record<CutVerdict, DeltaOutcomeLabel>> = {
  [CutVerdict.NotMember]: DeltaOutcomeLabel.NotMember,
  [CutVerdict.ReadOnly]: DeltaOutcomeLabel.ReadOnly,
  [CutVerdict.NoPosition]: DeltaOutcomeLabel.NoGovernancePosition,
};

/**
 * The StateDelta pipeline over one lane batch: received deltas of one context, in arrival order
 * (per batch). Once per batch: the context, a drain of its governance-pending
 * deltas, one lookup of which deltas are known, the group keys, and one transaction that adds every
 * authorised delta to the DAG in causal order. Per delta: the envelope (structure, HLC, signature),
 * own echo or duplicate, the author's membership at the governance cut it cites (memoised per
 * author and cut; an unknown cut is caught up from the source, else the delta is parked), buffering
 * while the context has no state, then opening with the group key and checking the content address.
 * A delta that fails any check is refused alone and counted; the rest of its batch goes on. Missing
 * parents are fetched from the source once per batch, and only when no more deltas may follow
 * (queued for the context, or not yet delivered: they may be the parents; if they are not, the next
 * batch of the context fetches, and interval sync repairs the rest). Refusals are acked, never retried; an infrastructure failure
 * throws, and the whole batch is redelivered (every step is idempotent by delta id).
 */
export async function handleDeltaBatch(
  deps: PipelineDeps,
  messages: readonly bus.StateDeltaReceived[],
  more: () => boolean,
): Promise<void> {
  const labels = await processBatch(deps, messages, more);
  for (const label of labels) deps.metrics.outcomes.inc({ outcome: label, via: 'gossip' });
}

async function processBatch(
  deps: PipelineDeps,
  messages: readonly bus.StateDeltaReceived[],
  more: () => boolean,
): Promise<DeltaOutcomeLabel[]> {
  const labels: DeltaOutcomeLabel[] = messages.map(() => DeltaOutcomeLabel.Malformed);
  const first = messages.find((m) => m.delta && m.delta.contextId.length === ID_BYTES)?.delta;
  if (!first) return labels;
  const contextId = Buffer.from(first.contextId);
  const state = await deps.hot.contextSettings(contextId);
  const live = messages.flatMap((m, i) => (m.delta && contextId.equals(m.delta.contextId) ? [i] : []));
  if (!state?.groupId) {
    for (const i of live) labels[i] = DeltaOutcomeLabel.UnknownContext;
    return labels;
  }
  const ctx: HostedContext = { id: contextId, groupId: state.groupId };
  await drainGovernancePending(deps, ctx.id, bus.DrainTrigger.DRAIN_TRIGGER_DELTA_RECEIPT);

  const verified = new Map<number, VerifiedDelta>();
  for (const i of live) {
    try {
      verified.set(i, checkEnvelope(messages[i]!.delta!));
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      labels[i] = refusal;
    }
  }
  const known = await deps.states.knownDeltas(
    ctx.id,
    [...verified.values()].map((v) => v.deltaId),
  );
  const verdicts = memoPerBatch(
    (v: VerifiedDelta, source: string) => authorizeAtCut(deps, ctx, v, source, () => ourMember(deps, ctx)),
    (v, source) => `${v.author.toString('hex')}:${v.governanceHeads.map((h) => h.toString('hex')).join(',')}:${source}`,
  );

  const authorised: number[] = [];
  for (const [i, v] of verified) {
    const message = messages[i]!;
    if (known.has(v.deltaId.toString('hex'))) {
      labels[i] = (await deps.hot.isOwned(ctx.id, v.author)) ? DeltaOutcomeLabel.OwnEcho : DeltaOutcomeLabel.Duplicate;
      continue;
    }
    const verdict = await verdicts(v, message.sourcePeer);
    if (verdict === CutVerdict.Unknown) {
      const parked = await parkForGovernance(deps, ctx, v, message.delta!, message.sourcePeer);
      labels[i] = parked === ParkOutcome.Duplicate ? DeltaOutcomeLabel.Duplicate : DeltaOutcomeLabel.GovernancePending;
      continue;
    }
    const refused = REFUSED_AT_CUT[verdict];
    if (refused) {
      deps.logger.warn(
        { ...deltaFields(ctx, v, message.sourcePeer), outcome: refused },
        'Refused a delta: its author may not write at the governance cut it cites',
      );
      labels[i] = refused;
      continue;
    }
    authorised.push(i);
  }
  if (authorised.length === 0) return labels;

  // No state yet (a snapshot is due): each delta is buffered durably, as one would be alone. (A
  // context never goes back to uninitialized: a cached "initialized" stands.)
  if (!state.initialized) {
    for (const i of authorised) {
      const m = messages[i]!;
      labels[i] = await applyAuthorized(deps, ctx, verified.get(i)!, m.delta!, m.sourcePeer);
    }
    return labels;
  }

  let keys = await deps.hot.keysOf(ctx.groupId);
  // A key stored a moment ago (a key share, a rotation) may not have reached our cache yet.
  if (authorised.some((i) => !keys.has(verified.get(i)!.keyId.toString('hex')))) {
    keys = await deps.hot.keysOf(ctx.groupId, { fresh: true });
  }
  const opened: { index: number; delta: OpenedDelta }[] = [];
  for (const i of authorised) {
    try {
      opened.push({ index: i, delta: openVerifiedDelta(verified.get(i)!, (id) => keys.get(id.toString('hex'))) });
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      deps.logger.warn(
        {
          ...deltaFields(ctx, verified.get(i)!, messages[i]!.sourcePeer),
          outcome: refusal,
          err: (err as Error).message,
        },
        'Refused a delta',
      );
      labels[i] = refusal;
    }
  }
  if (opened.length === 0) return labels;
  const result = await deps.states.addDeltas(
    ctx.id,
    opened.map((o) => o.delta),
  );
  opened.forEach((o, k) => (labels[o.index] = STORE_OUTCOME_LABEL[result.outcomes[k]!]));
  if (result.applied.length > 0) {
    deps.outbox.kick();
    deps.heartbeat.afterApply(ctx.id, result.rootHash, result.heads);
  }

  const pendingSource = opened.find(
    (o, k) => result.outcomes[k] === DeltaOutcome.Pending && messages[o.index]!.sourcePeer,
  );
  if (pendingSource && result.missingParents.length > 0) {
    deps.deferredFetches.set(ctx.id.toString('hex'), messages[pendingSource.index]!.sourcePeer);
  }
  const source = deps.deferredFetches.get(ctx.id.toString('hex'));
  // A parent that may still be queued or on its way is not fetched: the next batch may bring it.
  if (source !== undefined && !more()) {
    deps.deferredFetches.delete(ctx.id.toString('hex'));
    // The batches since the fetch was deferred may have brought every missing parent.
    const before = await deps.states.pendingCount(ctx.id);
    const me = before > 0 ? await ourMember(deps, ctx) : undefined;
    if (me) {
      await fetchMissingParents(deps, ctx, source, me);
      const after = await deps.states.context(ctx.id);
      if (after && (await deps.states.pendingCount(ctx.id)) < before) {
        deps.heartbeat.afterApply(ctx.id, after.rootHash, after.heads);
      }
    }
  }
  return labels;
}

import {
  CutVerdict,
  STORE_OUTCOME_LABEL,
  checkEnvelope,
  labelRevived,
  refusalOf,
  type HostedContext,
} from '@cnode/context-core';
import { ID_BYTES, openVerifiedDelta, toBase58, type OpenedDelta, type VerifiedDelta } from '@cnode/primitives';
import { bus, type wire } from '@cnode/proto';
import { LogThrottle, memoPerBatch } from '@cnode/runtime';
import { DeltaOutcome, ParkOutcome } from '@cnode/store';
import { DeltaOutcomeLabel } from '../metrics.js';
import { applyAuthorized, ourMember } from './apply-authorized.js';
import { crossCheckGrant, deltaFields, verdictAtCut } from './authorize.js';
import type { PipelineDeps } from './deps.js';
import { drainGovernancePending, parkForGovernance } from './governance-drain.js';
import { fetchMissingParents } from './parent-fetcher.js';

/**
 * Refusals are counted one by one (delta_outcomes_total); their log lines, which a peer can provoke
 * at will, are held to one per outcome and source per 10 s.
 */
const refusalLog = new LogThrottle();

/** Payload decoder of the STATE_DELTA consumer; a throw marks the message as poison. */
export function decodeStateDeltaReceived(data: Uint8Array): bus.StateDeltaReceived {
  return bus.StateDeltaReceived.decode(data);
}

/** The lane of a received delta: its context (base58), or one lane for everything malformed. */
export const MALFORMED_LANE = '-';

export function laneOfDelta(message: bus.StateDeltaReceived): string {
  const id = (message.delta ?? message.batch[0])?.contextId;
  return id && id.length === ID_BYTES ? toBase58(id) : MALFORMED_LANE;
}

/** One received delta and the peer it came from. */
interface ReceivedDelta {
  delta: wire.StateDelta | undefined;
  sourcePeer: string;
}

/** The deltas of mailbox messages, in order (a message holds one, or a gossip batch's of one context). */
function receivedDeltas(messages: readonly bus.StateDeltaReceived[]): ReceivedDelta[] {
  return messages.flatMap((m): ReceivedDelta[] => {
    const deltas = m.delta ? [m.delta] : m.batch;
    // A message with no delta at all is counted as one malformed delta.
    return deltas.length > 0
      ? deltas.map((delta) => ({ delta, sourcePeer: m.sourcePeer }))
      : [{ delta: undefined, sourcePeer: m.sourcePeer }];
  });
}

const REFUSED_AT_CUT: Partial<Record<CutVerdict, DeltaOutcomeLabel>> = {
  [CutVerdict.NotMember]: DeltaOutcomeLabel.NotMember,
  [CutVerdict.ReadOnly]: DeltaOutcomeLabel.ReadOnly,
  [CutVerdict.NoPosition]: DeltaOutcomeLabel.NoGovernancePosition,
};

/** One lane batch as the pipeline works through it: its messages, checked envelopes and labels. */
interface LaneBatch {
  ctx: HostedContext;
  messages: readonly ReceivedDelta[];
  verified: Map<number, VerifiedDelta>;
  labels: DeltaOutcomeLabel[];
}

/**
 * The StateDelta pipeline over one lane batch: received deltas of one context, in arrival order
 * (per batch). Once per batch: the context, a drain of its governance-pending deltas, the group keys,
 * and one transaction that finds which deltas are known and adds the new authorised ones to the DAG
 * in causal order. Per delta: the envelope (structure, HLC, signature), the author's membership at
 * the governance cut it cites (memoised per author and cut), then opening with the group key and
 * checking the content address. A delta whose cut is not known here takes the slow path: is it
 * known already, else catch the cut up from the source, else park it. While the context has no state
 * yet, deltas take the slow path and are buffered. A delta that fails any check is refused alone and
 * counted; the rest of its batch goes on. Missing parents are fetched from the source once per batch,
 * and only when no more deltas may follow (queued for the context, or not yet delivered: they may be
 * the parents; if they are not, the next batch of the context fetches, and interval sync repairs the
 * rest). Refusals are acked, never retried; an infrastructure failure throws, and the whole batch is
 * redelivered (every step is idempotent by delta id).
 */
export async function handleDeltaBatch(
  deps: PipelineDeps,
  messages: readonly bus.StateDeltaReceived[],
  more: () => boolean,
): Promise<void> {
  const received = receivedDeltas(messages);
  const labels = await processBatch(deps, received, more);
  for (const label of labels) deps.metrics.outcomes.inc({ outcome: label, via: 'gossip' });
  reportSources(deps, received, labels);
}

/** Refusals that only a peer that breaks the protocol causes: each is a strike against its source. */
const STRIKES: ReadonlySet<DeltaOutcomeLabel> = new Set([
  DeltaOutcomeLabel.NotMember,
  DeltaOutcomeLabel.BadSignature,
  DeltaOutcomeLabel.IdMismatch,
  DeltaOutcomeLabel.Malformed,
]);

/**
 * Tells the network service which source peers sent deltas refused for a reason only a peer that
 * breaks the protocol causes, one report per peer and reason: enough strikes get a peer banned
 * there, as junk gossip does. Never waits and never fails the batch (a lost report is counted).
 */
function reportSources(deps: PipelineDeps, received: readonly ReceivedDelta[], labels: readonly DeltaOutcomeLabel[]) {
  const counts = new Map<string, { peer: string; reason: DeltaOutcomeLabel; count: number }>();
  labels.forEach((label, i) => {
    const peer = received[i]?.sourcePeer;
    if (!peer || !STRIKES.has(label)) return;
    const key = `${peer}:${label}`;
    const entry = counts.get(key) ?? { peer, reason: label, count: 0 };
    entry.count++;
    counts.set(key, entry);
  });
  for (const { peer, reason, count } of counts.values()) {
    deps.network.reportPeer(peer, reason, count).then(
      () => deps.metrics.peerReports.inc({ outcome: 'sent' }),
      () => deps.metrics.peerReports.inc({ outcome: 'failed' }),
    );
  }
}

async function processBatch(
  deps: PipelineDeps,
  messages: readonly ReceivedDelta[],
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

  const batch: LaneBatch = { ctx, messages, verified: new Map(), labels };
  for (const i of live) {
    try {
      batch.verified.set(i, checkEnvelope(messages[i]!.delta!));
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      labels[i] = refusal;
    }
  }
  // No state yet (a snapshot is due): each delta is buffered durably, as one would be alone. (A
  // context never goes back to uninitialized: a cached "initialized" stands.)
  if (!state.initialized) {
    await slowPath(deps, batch, [...batch.verified.keys()], false);
    return labels;
  }

  // The cuts cited are known here almost always: decided from the cached projections, no I/O.
  const verdicts = memoPerBatch((v: VerifiedDelta) => verdictAtCut(deps, ctx, v, '', undefined), cutKey);
  const authorised: number[] = [];
  const unresolved: number[] = [];
  for (const [i, v] of batch.verified) {
    const verdict = await verdicts(v);
    if (verdict === CutVerdict.Unknown) unresolved.push(i);
    else if (!refusedAtCut(deps, batch, i, verdict)) authorised.push(i);
  }
  await addAuthorised(deps, batch, authorised, unresolved.length > 0 ? () => true : more, true);
  if (unresolved.length > 0) await slowPath(deps, batch, unresolved, true, more);
  return labels;
}

/** A delta stored here already: our own one coming back, or another's repeat. */
async function knownLabel(deps: PipelineDeps, ctx: HostedContext, v: VerifiedDelta): Promise<DeltaOutcomeLabel> {
  return (await deps.hot.isOwned(ctx.id, v.author)) ? DeltaOutcomeLabel.OwnEcho : DeltaOutcomeLabel.Duplicate;
}

/** A delta's author and the cut it cites: what a verdict depends on. */
function cutKey(v: VerifiedDelta): string {
  return `${v.author.toString('hex')}:${v.governanceHeads.map((h) => h.toString('hex')).join(',')}`;
}

/** Labels and logs a delta whose author may not write at its cut; false when the verdict admits it. */
function refusedAtCut(deps: PipelineDeps, batch: LaneBatch, i: number, verdict: CutVerdict): boolean {
  const refused = REFUSED_AT_CUT[verdict];
  if (!refused) return false;
  const source = batch.messages[i]!.sourcePeer;
  refusalLog.log(
    deps.logger,
    'warn',
    `${refused}:${source}`,
    { ...deltaFields(batch.ctx, batch.verified.get(i)!, source), outcome: refused },
    'Refused a delta: its author may not write at the governance cut it cites',
  );
  batch.labels[i] = refused;
  return true;
}

/**
 * Deltas whose cut is not known here, or every delta of a context without state: known ones are
 * labelled (never caught up for, parked or buffered again); for the rest the cut is caught up from
 * the source, and a delta whose cut stays unknown is parked until governance catches up.
 */
async function slowPath(
  deps: PipelineDeps,
  batch: LaneBatch,
  indices: readonly number[],
  initialized: boolean,
  more: () => boolean = () => false,
): Promise<void> {
  const { ctx, messages, verified, labels } = batch;
  const known = await deps.states.knownDeltas(
    ctx.id,
    indices.map((i) => verified.get(i)!.deltaId),
  );
  const catchUp = { ourMember: () => ourMember(deps, ctx) };
  const verdicts = memoPerBatch(
    (v: VerifiedDelta, source: string) => verdictAtCut(deps, ctx, v, source, catchUp),
    (v, source) => `${cutKey(v)}:${source}`,
  );
  const authorised: number[] = [];
  for (const i of indices) {
    const v = verified.get(i)!;
    const message = messages[i]!;
    if (known.has(v.deltaId.toString('hex'))) {
      labels[i] = await knownLabel(deps, ctx, v);
      continue;
    }
    const verdict = await verdicts(v, message.sourcePeer);
    if (verdict === CutVerdict.Unknown) {
      const parked = await parkForGovernance(deps, ctx, v, message.delta!, message.sourcePeer);
      labels[i] = parked === ParkOutcome.Duplicate ? DeltaOutcomeLabel.Duplicate : DeltaOutcomeLabel.GovernancePending;
      continue;
    }
    if (refusedAtCut(deps, batch, i, verdict)) continue;
    await crossCheckGrant(deps, ctx, v, message.sourcePeer);
    if (initialized) authorised.push(i);
    else labels[i] = await applyAuthorized(deps, ctx, v, message.delta!, message.sourcePeer);
  }
  await addAuthorised(deps, batch, authorised, more, false);
}

/**
 * Opens authorised deltas with the group keys and adds them to the DAG in one transaction; the live
 * cross-check (`crossCheck`) runs for those that were new. Fetches missing parents when the lane has
 * no more deltas on the way.
 */
async function addAuthorised(
  deps: PipelineDeps,
  batch: LaneBatch,
  authorised: readonly number[],
  more: () => boolean,
  crossCheck: boolean,
): Promise<void> {
  if (authorised.length === 0) return;
  const { ctx, messages, verified, labels } = batch;
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
      refusalLog.log(
        deps.logger,
        'warn',
        `${refusal}:${messages[i]!.sourcePeer}`,
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
  if (opened.length === 0) return;
  const result = await deps.states.addDeltas(
    ctx.id,
    opened.map((o) => o.delta),
  );
  if (result.applied.length > 0) {
    deps.heartbeat.afterApply(ctx.id, result.rootHash, result.heads);
  }
  for (const [k, o] of opened.entries()) {
    const outcome = result.outcomes[k]!;
    const v = verified.get(o.index)!;
    if (outcome === DeltaOutcome.Duplicate) {
      labels[o.index] = await knownLabel(deps, ctx, v);
      continue;
    }
    labels[o.index] = STORE_OUTCOME_LABEL[outcome];
    if (crossCheck) await crossCheckGrant(deps, ctx, v, messages[o.index]!.sourcePeer);
  }
  labelRevived(deps.logger, ctx, result, opened, labels);

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
}

import {
  CutVerdict,
  DivergencePlane,
  authorAtCut,
  checkEnvelope,
  drainTriggerLabel,
  reportDivergence,
  type HostedContext,
} from '@cnode/context-core';
import { toBase58, type VerifiedDelta } from '@cnode/primitives';
import { wire, type bus } from '@cnode/proto';
import { ProcessingAction, ProcessingError, errorMessage } from '@cnode/runtime';
import { StateDeltaErrorCode } from '../errors.js';
import { MAX_GOVERNANCE_DRAIN_ATTEMPTS, ParkOutcome, RedisLock, type GovernancePendingDelta } from '@cnode/store';
import { GOVERNANCE_DRAIN_LOCK_MS, GOVERNANCE_DRAIN_RETRY_MS } from '../constants.js';
import { applyAuthorized } from './apply-authorized.js';
import { crossCheckGrant, deltaFields } from './authorize.js';
import type { PipelineDeps } from './deps.js';

/** Labels of governance_drain_outcome_total (upstream's, without the retired lookup_error). */
export enum DrainOutcome {
  /** The cut names the author a member: the delta was re-run through the apply path. */
  Applied = 'applied',
  /** The cut refuses the author and the live view agrees: it was removed. */
  Removed = 'removed',
  /** The cut refuses the author and the live view agrees: it never was a member. */
  NeverMember = 'never_member',
  /** The cut refuses the author but the live view holds it a member (a divergence, reported). */
  NotMember = 'not_member',
  /** A read-only member at the cut: it may not write. */
  ReadOnly = 'read_only',
  /** Still undecidable (cited ops not applied here): kept, one attempt more. */
  Rebuffered = 'rebuffered',
  DroppedMaxAttempts = 'dropped_max_attempts',
  NoGovernancePosition = 'no_governance_position',
  /** The context (and with it the group it belongs to) is no longer hosted here. */
  GroupDisappeared = 'group_disappeared',
}

/** Parks a delta whose cited cut is not known here yet; counts the park outcome. */
export async function parkForGovernance(
  deps: PipelineDeps,
  ctx: HostedContext,
  verified: VerifiedDelta,
  delta: wire.StateDelta,
  sourcePeer: string,
): Promise<ParkOutcome> {
  const outcome = await deps.pending.park({
    contextId: ctx.id,
    deltaId: verified.deltaId,
    sourcePeer: sourcePeer || null,
    delta: Buffer.from(wire.StateDelta.encode(delta).finish()),
  });
  // Our own cached "nothing pending" goes now; other processes hear it from the database.
  deps.hot.invalidate('context', ctx.id);
  deps.metrics.governanceParked.inc({ outcome });
  const log = outcome === ParkOutcome.ParkedEvictingOldest ? 'warn' : 'info';
  deps.logger[log](
    { ...deltaFields(ctx, verified, sourcePeer), outcome, cut: verified.governanceHeads.map((h) => toBase58(h)) },
    outcome === ParkOutcome.ParkedEvictingOldest
      ? 'Governance-pending buffer full: parked the delta and evicted the oldest'
      : 'Parked a delta citing governance ops not applied here yet',
  );
  return outcome;
}

/**
 * Drains one context's governance-pending deltas, over the queue as it is when the
 * drain starts. The projection at each delta's cited cut is the sole authority: member → re-apply;
 * not member → drop (labelled removed / never_member when the live view agrees, not_member with a
 * membership-cut divergence when it does not); unknown → keep, dropped after 16 attempts. The live
 * cross-check runs only after a decisive verdict. One drain per context runs at a time across
 * replicas; a drain that finds another running leaves the queue to it.
 */
export async function drainGovernancePending(
  deps: PipelineDeps,
  contextId: Buffer,
  trigger: bus.DrainTrigger,
): Promise<Partial<Record<DrainOutcome, number>> | 'busy'> {
  const done: Partial<Record<DrainOutcome, number>> = {};
  if (await deps.hot.noGovernancePending(contextId)) return done;
  const context = toBase58(contextId);
  const lock = await RedisLock.acquire(
    deps.redis,
    deps.catalog.redis.governanceDrainLock(context),
    GOVERNANCE_DRAIN_LOCK_MS,
  );
  if (!lock) return 'busy';
  const triggerLabel = drainTriggerLabel(trigger);
  try {
    for (const item of await deps.pending.list(contextId)) {
      let outcome: DrainOutcome | undefined;
      try {
        outcome = await drainOne(deps, contextId, item);
      } catch (err) {
        // Infrastructure trouble: the delta stays parked for the next drain.
        deps.logger.warn(
          { context, delta: toBase58(item.deltaId), err: errorMessage(err) },
          'Governance drain step failed',
        );
        continue;
      }
      done[outcome] = (done[outcome] ?? 0) + 1;
      deps.metrics.governanceDrainOutcomes.inc({ outcome, trigger: triggerLabel });
      // A drain that lost its lock (it outlived the TTL) stops: another may have started since.
      if (!(await lock.extend(GOVERNANCE_DRAIN_LOCK_MS))) break;
    }
  } finally {
    await lock.release();
  }
  if (Object.keys(done).length > 0) {
    deps.logger.info({ context, trigger: triggerLabel, outcomes: done }, 'Drained governance-pending deltas');
  }
  return done;
}

async function drainOne(deps: PipelineDeps, contextId: Buffer, item: GovernancePendingDelta): Promise<DrainOutcome> {
  const state = await deps.states.context(contextId);
  if (!state?.groupId) {
    await deps.pending.remove(contextId, item.deltaId);
    return DrainOutcome.GroupDisappeared;
  }
  const ctx: HostedContext = { id: contextId, groupId: state.groupId };
  const delta = wire.StateDelta.decode(item.delta);
  // It passed these checks before it was parked; they are pure, so they pass again.
  const verified = checkEnvelope(delta);
  const verdict = await authorAtCut(deps.groups, ctx.groupId, verified.author, verified.governanceHeads);
  switch (verdict) {
    case CutVerdict.Unknown:
      if (item.attempts + 1 >= MAX_GOVERNANCE_DRAIN_ATTEMPTS) {
        await deps.pending.remove(contextId, item.deltaId);
        deps.logger.warn(deltaFields(ctx, verified), 'Dropped a governance-pending delta after too many attempts');
        return DrainOutcome.DroppedMaxAttempts;
      }
      await deps.pending.bumpAttempts(contextId, item.deltaId);
      deps.logger.debug(
        { ...deltaFields(ctx, verified), attempts: item.attempts + 1 },
        'Re-buffered a governance-pending delta',
      );
      return DrainOutcome.Rebuffered;
    case CutVerdict.Member: {
      await crossCheckGrant(deps, ctx, verified, item.sourcePeer ?? undefined);
      const label = await applyAuthorized(deps, ctx, verified, delta, item.sourcePeer ?? '');
      deps.metrics.outcomes.inc({ outcome: label, via: 'governance_drain' });
      // Removed only after the apply committed: a crash in between re-drains into a duplicate.
      await deps.pending.remove(contextId, item.deltaId);
      return DrainOutcome.Applied;
    }
    case CutVerdict.NoPosition:
      await deps.pending.remove(contextId, item.deltaId);
      return DrainOutcome.NoGovernancePosition;
    case CutVerdict.ReadOnly:
      await deps.pending.remove(contextId, item.deltaId);
      return DrainOutcome.ReadOnly;
    case CutVerdict.NotMember: {
      await deps.pending.remove(contextId, item.deltaId);
      const live = await deps.groups.liveStanding(ctx.groupId, verified.author);
      if (live === 'removed') return DrainOutcome.Removed;
      if (live === 'never_member') return DrainOutcome.NeverMember;
      reportDivergence(deps.logger, deps.metrics.projectionDivergences, {
        plane: DivergencePlane.MembershipCut,
        groupId: ctx.groupId,
        contextId: ctx.id,
        identity: verified.author,
        deltaId: verified.deltaId,
        projection: false,
        live,
        peer: item.sourcePeer ?? undefined,
      });
      return DrainOutcome.NotMember;
    }
  }
}

/**
 * A GovernanceDrainRequest from the GOVERNANCE mailbox: drain the named context, or all of the
 * group's. A context whose drain is running elsewhere is retried shortly (that drain may have
 * started before the ops this request announces were applied), so a request is never lost to a busy lock.
 */
export async function handleDrainRequest(deps: PipelineDeps, request: bus.GovernanceDrainRequest): Promise<void> {
  const contexts =
    request.contextId.length > 0
      ? [Buffer.from(request.contextId)]
      : await deps.pending.contexts(Buffer.from(request.groupId));
  let busy = false;
  for (const contextId of contexts) {
    if ((await drainGovernancePending(deps, contextId, request.trigger)) === 'busy') busy = true;
  }
  if (busy) {
    throw new ProcessingError(
      ProcessingAction.Retry,
      StateDeltaErrorCode.DrainBusy,
      'a drain of the context is running',
      {
        retryDelayMs: GOVERNANCE_DRAIN_RETRY_MS,
      },
    );
  }
}

import { admitFetchedDeltas, DeltaOutcomeLabel, knownForRequest, type HostedContext } from '@cnode/context-core';
import { toBase58, type Identity } from '@cnode/primitives';
import { backoffMs, errorMessage } from '@cnode/runtime';
import {
  PARENT_FETCH_BACKOFF_BASE_MS,
  PARENT_FETCH_BACKOFF_MAX_MS,
  PARENT_FETCH_BATCH,
  PARENT_FETCH_FAILURES_BEFORE_BACKOFF,
  PARENT_FETCH_FAILURE_MEMORY_MS,
  PARENT_FETCH_LOCK_MS,
  PARENT_FETCH_MAX_DELTAS,
  PARENT_FETCH_MAX_ROUNDS,
} from '../constants.js';
import { RedisLock } from '@cnode/store';
import type { PipelineDeps } from './deps.js';

export enum ParentFetchOutcome {
  Ok = 'ok',
  /** The peer had none of what we miss. */
  Empty = 'empty',
  Failed = 'failed',
  /** Fetches from this peer for this context are backing off after repeated failures. */
  Backoff = 'backoff',
  /** Another fetch for the context is running (here or in another replica); it covers ours. */
  Busy = 'busy',
}

/**
 * Fetches the parents pending deltas wait on from the peer that sent the delta, with `DeltaRequest`
 * over the sync stream protocol, until nothing is missing. One fetch per context runs at a time
 * (a Redis lock across replicas). After 3 consecutive failures with a peer, fetches from it back off:
 * 2 s, doubling up to 60 s (Redis keys with TTLs, so a lost Redis only forgets backoffs).
 */
export async function fetchMissingParents(
  deps: PipelineDeps,
  ctx: HostedContext,
  peer: string,
  me: Identity,
): Promise<ParentFetchOutcome> {
  const context = toBase58(ctx.id);
  const keys = deps.catalog.redis;
  if (await deps.redis.exists(keys.parentFetchBackoff(context, peer))) return count(deps, ParentFetchOutcome.Backoff);
  const lock = await RedisLock.acquire(deps.redis, keys.parentFetchLock(context), PARENT_FETCH_LOCK_MS);
  if (!lock) return count(deps, ParentFetchOutcome.Busy);
  try {
    let received = 0;
    // Oldest first, as for catch-up, until an answer is mostly history we hold (our heads did not
    // bound the peer's walk): then the newest of the gap, our missing parents leading down.
    let newestFirst = false;
    for (let round = 0; round < PARENT_FETCH_MAX_ROUNDS; round++) {
      const missing = await deps.states.missingParents(ctx.id);
      if (missing.length === 0) break;
      const answer = await deps.sync.fetchDeltas(peer, me, ctx.groupId, {
        contextId: ctx.id,
        wanted: missing.slice(0, PARENT_FETCH_BATCH),
        knownHeads: await knownForRequest(deps.states, ctx.id),
        maxDeltas: PARENT_FETCH_MAX_DELTAS,
        newestFirst,
      });
      if (answer.deltas.length === 0) break;
      const { labels } = await admitFetchedDeltas(deps, ctx, answer.deltas.slice(0, PARENT_FETCH_MAX_DELTAS));
      received += labels.length;
      let duplicates = 0;
      for (const outcome of labels) {
        deps.metrics.outcomes.inc({ outcome, via: 'fetch' });
        if (outcome === DeltaOutcomeLabel.Duplicate) duplicates++;
      }
      if (duplicates * 2 > answer.deltas.length) {
        if (newestFirst) break;
        newestFirst = true;
      }
      // A fetch that lost its lock stops: another may be fetching for this context by now.
      if (!(await lock.extend(PARENT_FETCH_LOCK_MS))) break;
    }
    await deps.redis.del(keys.parentFetchFailures(context, peer));
    return count(deps, received > 0 ? ParentFetchOutcome.Ok : ParentFetchOutcome.Empty);
  } catch (err) {
    const failures = await deps.redis.incr(keys.parentFetchFailures(context, peer));
    await deps.redis.pexpire(keys.parentFetchFailures(context, peer), PARENT_FETCH_FAILURE_MEMORY_MS);
    if (failures >= PARENT_FETCH_FAILURES_BEFORE_BACKOFF) {
      const delay = backoffMs(
        failures - PARENT_FETCH_FAILURES_BEFORE_BACKOFF,
        PARENT_FETCH_BACKOFF_BASE_MS,
        PARENT_FETCH_BACKOFF_MAX_MS,
      );
      await deps.redis.set(keys.parentFetchBackoff(context, peer), '1', 'PX', delay);
    }
    deps.logger.warn({ context, peer, failures, err: errorMessage(err) }, 'Parent fetch failed');
    return count(deps, ParentFetchOutcome.Failed);
  } finally {
    await lock.release();
  }
}

function count(deps: PipelineDeps, outcome: ParentFetchOutcome): ParentFetchOutcome {
  deps.metrics.parentFetches.inc({ outcome });
  return outcome;
}

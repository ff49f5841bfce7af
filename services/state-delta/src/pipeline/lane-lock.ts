import { setTimeout as sleep } from 'node:timers/promises';
import { ProcessingAction, ProcessingError, errorMessage } from '@cnode/runtime';
import { RedisLock } from '@cnode/store';
import { LANE_LOCK_POLL_MS, LANE_LOCK_TTL_MS, LANE_LOCK_WAIT_MS } from '../constants.js';
import { StateDeltaErrorCode } from '../errors.js';
import type { PipelineDeps } from './deps.js';

/** Label values of state_delta_lane_locks_total. */
export enum LaneLockOutcome {
  /** Free at once. */
  Acquired = 'acquired',
  /** Held by another replica's lane for a while first. */
  Waited = 'waited',
  /** Another replica held it past the wait: the batch is retried later. */
  Timeout = 'timeout',
  /** Redis did not answer: the batch runs unlocked (the context row lock still orders it). */
  Unavailable = 'unavailable',
  /** No other replica is live: no lock needed (two Redis round trips saved per batch). */
  Alone = 'alone',
}

/**
 * Runs one lane batch while holding the context's lane lock, so that across every state-delta
 * replica one lane per context runs at a time: a context's batches never interleave their
 * transactions (which would leave deltas pending behind each other and fetch parents another
 * replica is about to apply). A replica whose lane finds the lock held waits for it (its messages
 * stay in flight, bounded by STATE_DELTA_MAX_IN_FLIGHT); past LANE_LOCK_WAIT_MS the batch is
 * retried later. The lock is renewed while the batch runs and lapses within LANE_LOCK_TTL_MS of a
 * holder's crash. Without Redis the batch runs unlocked: correctness never depended on this lock
 * (the row lock and the known-id check apply every delta once), only the order of work. So a
 * replica that is alone (`ReplicaPresence`) takes no lock at all.
 */
export async function withLaneLock<R>(deps: PipelineDeps, lane: string, run: () => Promise<R>): Promise<R> {
  if (deps.presence.alone) {
    deps.metrics.laneLocks.inc({ outcome: LaneLockOutcome.Alone });
    return run();
  }
  const key = deps.catalog.redis.stateDeltaLane(lane);
  const deadline = Date.now() + LANE_LOCK_WAIT_MS;
  let lock: RedisLock | undefined;
  let outcome = LaneLockOutcome.Acquired;
  try {
    for (;;) {
      lock = await RedisLock.acquire(deps.redis, key, LANE_LOCK_TTL_MS);
      if (lock) break;
      outcome = LaneLockOutcome.Waited;
      if (Date.now() >= deadline) {
        deps.metrics.laneLocks.inc({ outcome: LaneLockOutcome.Timeout });
        throw new ProcessingError(
          ProcessingAction.Retry,
          StateDeltaErrorCode.LaneBusy,
          `another replica held the lane of ${lane} for ${LANE_LOCK_WAIT_MS} ms`,
        );
      }
      await sleep(LANE_LOCK_POLL_MS);
    }
  } catch (err) {
    if (err instanceof ProcessingError) throw err;
    outcome = LaneLockOutcome.Unavailable;
    deps.logger.warn({ lane, err: errorMessage(err) }, 'Lane lock unavailable (Redis): running the batch unlocked');
  }
  deps.metrics.laneLocks.inc({ outcome });
  // Renewed while the batch runs (a parent fetch may take a while); a crashed holder frees it within the TTL.
  const renew = lock && setInterval(() => void lock.extend(LANE_LOCK_TTL_MS).catch(() => false), LANE_LOCK_TTL_MS / 3);
  try {
    return await run();
  } finally {
    clearInterval(renew);
    await lock?.release().catch(() => false);
  }
}

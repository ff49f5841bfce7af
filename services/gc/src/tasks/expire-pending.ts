import { toBase58 } from '@cnode/primitives';
import type { GcCounts } from '@cnode/store';
import { emptyCounts, yieldToOthers, type TaskDeps } from './task.js';

const KIND = 'pending_delta';
const BATCH = 1000;
/** Upstream warns when one context holds more pending deltas than this. */
export const PENDING_WARN_THRESHOLD = 100;

/**
 * Pending-delta cleanup: pending deltas whose parents did not arrive
 * within PENDING_DELTA_MAX_AGE are dropped (a later sync brings the history back if it exists), and
 * contexts holding more than 100 pending deltas are logged.
 */
export async function expirePending(deps: TaskDeps): Promise<GcCounts> {
  const counts = emptyCounts();
  const contexts = new Set<string>();
  for (;;) {
    const expired = await deps.gc.expirePendingBatch(deps.now(), deps.config.pendingDeltaMaxAgeMs, BATCH);
    let n = 0;
    for (const [context, count] of expired) {
      contexts.add(context);
      n += count;
    }
    counts.scanned += n;
    counts.deleted += n;
    deps.metrics.scanned.inc({ kind: KIND }, n);
    deps.metrics.deleted.inc({ kind: KIND }, n);
    if (n < BATCH) break;
    await yieldToOthers();
  }
  counts.contexts = contexts.size;
  for (const { contextId, pending } of await deps.gc.pendingCounts()) {
    if (pending > PENDING_WARN_THRESHOLD) {
      deps.logger.warn({ context: toBase58(contextId), pending }, 'Many pending deltas wait for their parents');
    }
  }
  return counts;
}

import { toBase58 } from '@cnode/primitives';
import { PRUNED_IDS_REMEMBERED, type GcCounts } from '@cnode/store';
import { emptyCounts, yieldToOthers, type TaskDeps } from './task.js';

const KIND = 'delta';
const BATCH = 1000;

/**
 * DAG compaction: contexts with at least DAG_COMPACTION_MIN_DELTAS applied deltas keep
 * the newest DAG_COMPACTION_RETAIN_RECENT (and their heads); older applied deltas are pruned in
 * batches, each remembered as a pruned checkpoint in the same statement. Pending deltas are never
 * pruned. A peer asking for pruned history falls back to hash comparison or a snapshot.
 */
export async function compactDags(deps: TaskDeps): Promise<GcCounts> {
  const counts = emptyCounts();
  const { enabled, minDeltas, retainRecent } = deps.config.dagCompaction;
  if (!enabled) return counts;
  for (const { contextId, applied } of await deps.gc.contextsWithAppliedAtLeast(minDeltas)) {
    counts.contexts++;
    counts.scanned += applied;
    deps.metrics.scanned.inc({ kind: KIND }, applied);
    let pruned = 0;
    for (;;) {
      const n = await deps.gc.pruneDeltaBatch(contextId, retainRecent, BATCH);
      pruned += n;
      deps.metrics.deleted.inc({ kind: KIND }, n);
      if (n < BATCH) break;
      await yieldToOthers();
    }
    counts.deleted += pruned;
    await deps.gc.forgetPrunedBeyond(contextId, PRUNED_IDS_REMEMBERED);
    deps.logger.info({ context: toBase58(contextId), applied, pruned }, 'Compacted a delta DAG');
  }
  return counts;
}

import { toBase58 } from '@cnode/primitives';
import { errorMessage } from '@cnode/runtime';
import type { GcCounts } from '@cnode/store';
import { emptyCounts, yieldToOthers, type TaskDeps } from './task.js';

const KIND = 'tombstone';

/**
 * Tombstone GC (upstream's GarbageCollector): deletes tombstones deleted strictly longer than
 * GC_TOMBSTONE_RETENTION ago, at most GC_MAX_DELETIONS_PER_RUN per run, GC_BATCH_SIZE per statement.
 * Each statement skips rows a writer holds and re-checks every row as it deletes it. A batch that
 * fails is retried key by key; a key that still fails is logged and counted, and left for the next
 * run. Live entries are never touched; tombstones are outside the Merkle tree, so roots do not move.
 */
export async function collectTombstones(deps: TaskDeps): Promise<GcCounts> {
  const counts = emptyCounts();
  const cutoffMs = deps.now() - deps.config.tombstoneRetentionMs;
  let budget = deps.config.maxDeletionsPerRun;
  for (const contextId of await deps.gc.contextsWithTombstonesBefore(cutoffMs)) {
    if (budget <= 0) break;
    counts.contexts++;
    while (budget > 0) {
      const limit = Math.min(deps.config.batchSize, budget);
      let batch: { scanned: number; deleted: number };
      try {
        batch = await deps.gc.deleteTombstoneBatch(contextId, cutoffMs, limit);
      } catch (err) {
        deps.logger.warn(
          { context: toBase58(contextId), err: errorMessage(err) },
          'Tombstone batch failed; one by one',
        );
        batch = await oneByOne(deps, contextId, cutoffMs, limit, counts);
      }
      counts.scanned += batch.scanned;
      counts.deleted += batch.deleted;
      deps.metrics.scanned.inc({ kind: KIND }, batch.scanned);
      deps.metrics.deleted.inc({ kind: KIND }, batch.deleted);
      budget -= batch.deleted;
      // Done with the context: nothing older is left, or what is left is held by writers right now.
      if (batch.scanned < limit || batch.deleted === 0) break;
      await yieldToOthers();
    }
  }
  return counts;
}

async function oneByOne(
  deps: TaskDeps,
  contextId: Buffer,
  cutoffMs: number,
  limit: number,
  counts: GcCounts,
): Promise<{ scanned: number; deleted: number }> {
  let deleted = 0;
  const keys = await deps.gc.tombstoneKeys(contextId, cutoffMs, limit);
  for (const key of keys) {
    try {
      if (await deps.gc.deleteTombstone(contextId, key, cutoffMs)) deleted++;
    } catch (err) {
      counts.failed++;
      deps.metrics.failures.inc({ kind: KIND });
      deps.logger.warn(
        { context: toBase58(contextId), key: key.toString('hex'), err: errorMessage(err) },
        'Could not delete a tombstone; retrying next run',
      );
    }
  }
  // Stop with this context when keys keep failing: the next run retries them.
  return { scanned: keys.length, deleted };
}

import type { NodeConfig } from '@cnode/config';
import type { Logger } from '@cnode/runtime';
import type { GcCounts, GcRepo } from '@cnode/store';
import type { GcMetrics } from '../metrics.js';

export interface TaskDeps {
  gc: GcRepo;
  config: NodeConfig['gc'];
  metrics: GcMetrics;
  logger: Logger;
  /** Wall clock (ms): injected in tests. */
  now: () => number;
}

export const emptyCounts = (): GcCounts => ({ contexts: 0, scanned: 0, deleted: 0, failed: 0 });

/** Lets writes and timers in between batches: a run never holds the event loop for long. */
export const yieldToOthers = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

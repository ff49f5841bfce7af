import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import type { BlobRepo } from '@cnode/store';
import type { Counter } from 'prom-client';
import type { BlobCache } from './blob-cache.js';

/**
 * Upstream's blob eviction timer (OLD_BLOBS_EVICTION_FREQUENCY_S): every period the cache evicts by
 * age, count and bytes, and chunks no blob links any more are swept once past their grace. Every
 * replica runs it; both passes are safe to run concurrently. A pass still running skips the next.
 */
export class BlobMaintenance implements Startable {
  readonly name = 'blob-maintenance';
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly deps: {
      cache: BlobCache;
      blobs: () => BlobRepo;
      intervalMs: number;
      orphanGraceMs: number;
      swept: Counter;
      logger: Logger;
    },
  ) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => void this.runOnce(), this.deps.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass (exposed for tests); false when the previous pass was still running. */
  async runOnce(): Promise<boolean> {
    if (this.running) return false;
    this.running = true;
    try {
      const evicted = await this.deps.cache.evict();
      const swept = await this.deps.blobs().sweepOrphanChunks(this.deps.orphanGraceMs);
      if (swept > 0) this.deps.swept.inc(swept);
      if (swept > 0 || evicted.age + evicted.count + evicted.memory > 0)
        this.deps.logger.info({ evicted, orphanChunks: swept }, 'Blob maintenance');
    } catch (err) {
      this.deps.logger.warn({ err: errorMessage(err) }, 'Blob maintenance failed; retrying next period');
    } finally {
      this.running = false;
    }
    return true;
  }
}

import { readSyncBook, syncStatusOf, writeSyncBook, type NodeEventOutbox, type SyncBook } from '@cnode/context-core';
import type { Catalog } from '@cnode/bus';
import { admin } from '@cnode/proto';
import { errorMessage, type Logger } from '@cnode/runtime';
import type { Redis, StateStore } from '@cnode/store';

/** Snapshot progress is published at most this often per context (and always at the end). */
const PROGRESS_EVERY_MS = 1_000;

/**
 * The per-context sync status: kept in Redis (shared by every sync replica and read by the admin
 * API), and published as a SyncStatus node event whenever the state changes. Status is
 * coordination: when Redis is away it is skipped with a log line, never failing a session.
 */
export class StatusBoard {
  private readonly lastProgress = new Map<string, number>();

  constructor(
    private readonly deps: {
      redis: () => Redis;
      catalog: Catalog;
      states: StateStore;
      outbox: Pick<NodeEventOutbox, 'kick'>;
      logger: Logger;
    },
  ) {}

  read(contextId: Buffer): Promise<SyncBook> {
    return readSyncBook(this.deps.redis(), this.deps.catalog, contextId);
  }

  async update(contextId: Buffer, patch: Partial<SyncBook>): Promise<void> {
    try {
      const { before, after } = await writeSyncBook(this.deps.redis(), this.deps.catalog, contextId, patch);
      const progressed =
        after.state === admin.SyncStatus_State.STATE_RECEIVING_SNAPSHOT && after.received !== before.received;
      if (after.state !== before.state || progressed) {
        await this.deps.states.queueNodeEvent(contextId, {
          $case: 'syncStatus',
          syncStatus: syncStatusOf(after),
        });
        this.deps.outbox.kick();
      }
    } catch (err) {
      this.deps.logger.warn({ err: errorMessage(err) }, 'Sync status not recorded');
    }
  }

  /** Snapshot progress, throttled. */
  async receivingSnapshot(contextId: Buffer, received: number, total: number): Promise<void> {
    const key = contextId.toString('hex');
    const now = Date.now();
    if (received > 0 && received < total && now - (this.lastProgress.get(key) ?? 0) < PROGRESS_EVERY_MS) return;
    this.lastProgress.delete(key);
    if (received < total) this.lastProgress.set(key, now);
    if (this.lastProgress.size > 10_000) this.lastProgress.delete(this.lastProgress.keys().next().value!);
    await this.update(contextId, { state: admin.SyncStatus_State.STATE_RECEIVING_SNAPSHOT, received, total });
  }
}

import { status } from '@grpc/grpc-js';
import { createOwnDelta, type HlcClock, type Identity } from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import { errorMessage, type Histogram, type Counter, type Logger } from '@cnode/runtime';
import type { LocalDeltaResult, LocalWrite, StateStore } from '@cnode/store';
import { AdminCallError, AdminErrorCode } from '../grpc/admin-errors.js';

/** One mutating call waiting for its group commit. */
export interface CommitJob {
  author: Identity;
  actions: LocalWrite['actions'];
  events: LocalWrite['events'];
  groupKey: Buffer;
  governanceHeads: Buffer[];
  /** The call's private-storage writes, committed with its delta. */
  privateWrites?: LocalWrite['privateWrites'];
  /** The handler job this write is the effect of (see `LocalWrite.handlerJob`): it commits in a batch of its own. */
  handlerJob?: string;
}

/** A committed local delta and its gossip form. */
export interface CommittedDelta extends LocalDeltaResult {
  gossip: wire.StateDelta;
}

interface Queued extends CommitJob {
  resolve(result: CommittedDelta): void;
  reject(err: unknown): void;
}

/** A seal that failed for one write of a batch: that write is refused alone, the rest commit. */
class SealFailure extends Error {
  constructor(
    readonly index: number,
    readonly original: unknown,
  ) {
    super(errorMessage(original));
  }
}

export interface GroupCommitMetrics {
  batchSize: Histogram<string>;
  rejected: Counter<'reason'>;
}

/**
 * Group commit of local writes, per context: calls that arrive while the context's previous batch
 * commits queue up and form its next batch — whatever is queued, up to `maxBatch`; no timer waits
 * for more, so a lone call commits at once. One batch is one transaction (`commitLocalBatch`): its
 * deltas chain in arrival order, each sealed with its own author's key and its own post-apply root.
 * A committed batch leaves the node as one gossip message (a `StateDeltaBatch`), and each caller is
 * answered once its delta is committed and handed to gossip. A context's queue holds at most
 * `maxQueuedPerContext` calls, and all contexts together `maxQueued`; beyond, calls are refused
 * with RESOURCE_EXHAUSTED and counted.
 */
export class GroupCommitter {
  private readonly queues = new Map<string, Queued[]>();
  /** Per context, the gossip of its last committed batch (gone once handed over): at most one per context with writes in flight. */
  private readonly gossipTails = new Map<string, Promise<void>>();
  private queued = 0;

  constructor(
    private readonly deps: {
      states: () => StateStore;
      clock: HlcClock;
      metrics: GroupCommitMetrics;
      logger: Logger;
      /**
       * Hands a committed batch's deltas (in chain order) to gossip; never rejects. Callers are
       * answered when it settles, while the next batch already commits.
       */
      gossip: (contextId: Buffer, deltas: wire.StateDelta[]) => Promise<void>;
    },
    private readonly limits: { maxBatch: number; maxQueuedPerContext: number; maxQueued: number },
  ) {}

  commit(contextId: Buffer, job: CommitJob): Promise<CommittedDelta> {
    const key = contextId.toString('hex');
    let queue = this.queues.get(key);
    if ((queue?.length ?? 0) >= this.limits.maxQueuedPerContext || this.queued >= this.limits.maxQueued) {
      this.deps.metrics.rejected.inc({ reason: 'queue_full' });
      return Promise.reject(
        new AdminCallError(
          status.RESOURCE_EXHAUSTED,
          AdminErrorCode.WritesBusy,
          'too many writes are waiting to commit; retry shortly',
        ),
      );
    }
    const result = new Promise<CommittedDelta>((resolve, reject) => {
      const entry: Queued = { ...job, resolve, reject };
      if (queue) queue.push(entry);
      else {
        queue = [entry];
        this.queues.set(key, queue);
        void this.drain(contextId, key, queue);
      }
    });
    this.queued++;
    return result;
  }

  private async drain(contextId: Buffer, key: string, queue: Queued[]): Promise<void> {
    // Let the calls that arrived together join the first batch.
    await Promise.resolve();
    while (queue.length > 0) {
      const batch = queue.splice(0, batchLength(queue, this.limits.maxBatch));
      this.queued -= batch.length;
      this.deps.metrics.batchSize.observe(batch.length);
      await this.commitBatch(contextId, batch);
    }
    this.queues.delete(key);
  }

  /**
   * Gossips a committed batch once the context's previous batch was handed to gossip: the next batch
   * commits meanwhile, but its message never overtakes the one its first delta chains to (a
   * receiver would hold the batch pending and fetch the parents it is about to receive).
   */
  private gossipInOrder(contextId: Buffer, deltas: wire.StateDelta[]): Promise<void> {
    const key = contextId.toString('hex');
    // Gossip never rejects (failures are counted there); should it ever, the chain and the callers go on.
    const tail = (this.gossipTails.get(key) ?? Promise.resolve())
      .then(() => this.deps.gossip(contextId, deltas))
      .catch((err: unknown) =>
        this.deps.logger.warn(
          { err: errorMessage(err) },
          'Gossip of committed deltas failed; catch-up will carry them',
        ),
      );
    this.gossipTails.set(key, tail);
    return tail.finally(() => {
      if (this.gossipTails.get(key) === tail) this.gossipTails.delete(key);
    });
  }

  /** Commits a batch; a write whose seal fails is refused and the others are committed again without it. */
  private async commitBatch(contextId: Buffer, batch: Queued[]): Promise<void> {
    let jobs = batch;
    while (jobs.length > 0) {
      const gossip: wire.StateDelta[] = [];
      try {
        const writes = jobs.map((j) => ({
          author: j.author.publicKey,
          actions: j.actions,
          events: j.events,
          ...(j.privateWrites?.length ? { privateWrites: j.privateWrites } : {}),
          ...(j.handlerJob === undefined ? {} : { handlerJob: j.handlerJob }),
        }));
        const results = await this.deps.states().commitLocalBatch(contextId, writes, (draft, index) => {
          const job = jobs[index]!;
          try {
            const { delta, verified } = createOwnDelta({
              contextId,
              parents: draft.parents,
              actions: job.actions,
              hlc: this.deps.clock.now(),
              author: job.author,
              governanceHeads: job.governanceHeads,
              groupKey: job.groupKey,
              rootHash: draft.rootHash,
              events: job.events,
            });
            gossip[index] = delta;
            return verified;
          } catch (err) {
            throw new SealFailure(index, err);
          }
        });
        const settled = jobs;
        void this.gossipInOrder(contextId, gossip).then(() =>
          results.forEach((r, i) => settled[i]!.resolve({ ...r, gossip: gossip[i]! })),
        );
        return;
      } catch (err) {
        if (err instanceof SealFailure) {
          jobs[err.index]!.reject(err.original);
          jobs = jobs.filter((_, i) => i !== err.index);
          continue;
        }
        for (const job of jobs) job.reject(err);
        return;
      }
    }
  }
}

/**
 * How many queued writes the next batch takes: up to `maxBatch`, but a handler's write goes alone —
 * should its job have been run elsewhere, its batch fails, and no other write with it.
 */
function batchLength(queue: readonly CommitJob[], maxBatch: number): number {
  if (queue[0]?.handlerJob !== undefined) return 1;
  const handler = queue.findIndex((j) => j.handlerJob !== undefined);
  return Math.min(maxBatch, handler < 0 ? queue.length : handler);
}

import { Counter, Gauge, type Registry } from 'prom-client';

/** Which item goes when a push finds the queue full. */
export enum DropPolicy {
  /** Keep what is queued; the incoming item is dropped (FIFO work queues: oldest work goes first). */
  DropNewest = 'drop_newest',
  /** Evict the oldest queued item to make room (freshness matters more than completeness). */
  DropOldest = 'drop_oldest',
}

/** Why an item left the queue without being taken. Metric label values. */
export enum QueueDropReason {
  /** The queue was full and the incoming item was refused. */
  Full = 'full',
  /** The queue was full and the oldest item was evicted for the incoming one. */
  EvictedOldest = 'evicted_oldest',
  /** The queue was closed: pushes after close, and items still queued at close. */
  Closed = 'closed',
}

/** Shared metric families for every bounded queue of a process, labelled by queue name. */
export interface QueueMetrics {
  readonly length: Gauge<'queue'>;
  readonly pushed: Counter<'queue'>;
  readonly dropped: Counter<'queue' | 'reason'>;
  /** Queues whose length the gauge reports at scrape time. */
  readonly tracked: Set<{ readonly name: string; readonly length: number }>;
}

export function createQueueMetrics(registry: Registry): QueueMetrics {
  const tracked = new Set<{ readonly name: string; readonly length: number }>();
  return {
    tracked,
    length: new Gauge({
      name: 'queue_length',
      help: 'Items waiting in a bounded in-process queue',
      labelNames: ['queue'],
      registers: [registry],
      collect() {
        for (const queue of tracked) this.set({ queue: queue.name }, queue.length);
      },
    }),
    pushed: new Counter({
      name: 'queue_pushed_total',
      help: 'Items offered to a bounded in-process queue',
      labelNames: ['queue'],
      registers: [registry],
    }),
    dropped: new Counter({
      name: 'queue_dropped_total',
      help: 'Items dropped by a bounded in-process queue, by reason',
      labelNames: ['queue', 'reason'],
      registers: [registry],
    }),
  };
}

export interface BoundedQueueOptions {
  /** Label value for metrics and logs; a fixed string, never an id. */
  name: string;
  maxLength: number;
  dropPolicy: DropPolicy;
  metrics?: QueueMetrics;
}

/**
 * A FIFO with a hard length bound. Every drop is counted by reason; items that are kept come out in
 * the order they went in. `take()` waits for an item, so one consumer loop can drain it.
 */
export class BoundedQueue<T> {
  readonly name: string;
  readonly maxLength: number;
  private readonly dropPolicy: DropPolicy;
  private readonly metrics: QueueMetrics | undefined;
  // A ring buffer keeps shift() O(1) without unbounded array growth.
  private readonly ring: (T | undefined)[];
  private head = 0;
  private size = 0;
  private closed = false;
  private readonly waiters: { resolve: (item: T) => void; reject: (err: Error) => void }[] = [];
  private readonly droppedByReason = new Map<QueueDropReason, number>();

  constructor(opts: BoundedQueueOptions) {
    if (!Number.isInteger(opts.maxLength) || opts.maxLength < 1) {
      throw new RangeError(`queue ${opts.name}: maxLength must be a positive integer, got ${opts.maxLength}`);
    }
    this.name = opts.name;
    this.maxLength = opts.maxLength;
    this.dropPolicy = opts.dropPolicy;
    this.metrics = opts.metrics;
    this.ring = new Array<T | undefined>(opts.maxLength);
    this.metrics?.tracked.add(this);
  }

  get length(): number {
    return this.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Drops so far, by reason (also exported as `queue_dropped_total`). */
  dropped(reason: QueueDropReason): number {
    return this.droppedByReason.get(reason) ?? 0;
  }

  /**
   * Offers an item. Returns how many items were dropped to honour the bound: 0 when it was queued
   * (or handed straight to a waiting taker), 1 when it or the oldest item was dropped.
   */
  push(item: T): number {
    this.metrics?.pushed.inc({ queue: this.name });
    if (this.closed) {
      this.countDrop(QueueDropReason.Closed);
      return 1;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve(item);
      return 0;
    }
    if (this.size < this.maxLength) {
      this.ring[(this.head + this.size) % this.maxLength] = item;
      this.size++;
      return 0;
    }
    if (this.dropPolicy === DropPolicy.DropNewest) {
      this.countDrop(QueueDropReason.Full);
      return 1;
    }
    // DropOldest: overwrite the head slot and advance.
    this.ring[this.head] = item;
    this.head = (this.head + 1) % this.maxLength;
    this.countDrop(QueueDropReason.EvictedOldest);
    return 1;
  }

  /** The oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.ring[this.head];
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.maxLength;
    this.size--;
    return item;
  }

  /** Waits for the next item. Rejects when the queue closes or the signal aborts. */
  take(signal?: AbortSignal): Promise<T> {
    if (this.size > 0) return Promise.resolve(this.shift() as T);
    if (this.closed) return Promise.reject(new Error(`queue ${this.name} is closed`));
    if (signal?.aborted) return Promise.reject(new Error(`take from ${this.name} aborted`));
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        resolve: (item: T) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(item);
        },
        reject: (err: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Error(`take from ${this.name} aborted`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Refuses further pushes; items still queued are dropped and counted; waiting takers reject. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    while (this.shift() !== undefined) this.countDrop(QueueDropReason.Closed);
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error(`queue ${this.name} is closed`));
    this.metrics?.tracked.delete(this);
  }

  private countDrop(reason: QueueDropReason): void {
    this.droppedByReason.set(reason, (this.droppedByReason.get(reason) ?? 0) + 1);
    this.metrics?.dropped.inc({ queue: this.name, reason });
  }
}

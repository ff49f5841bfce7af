import type { Redis } from 'ioredis';

export interface ReplicaPresenceOptions {
  redis: () => Redis;
  /** The sorted set of the service's live replicas (member: instance id, score: last refresh). */
  key: string;
  instanceId: string;
  /** How often this replica says it is alive and counts the others. */
  refreshMs: number;
  /** A replica not heard of for this long is gone (and a count this old is no longer trusted). */
  ttlMs: number;
  /** Told the live count after every refresh. */
  onCount?: (live: number) => void;
}

/**
 * Which replicas of a service are live, so that coordination only a second replica needs (a lock
 * per batch) can be skipped while a replica is alone. One pipelined round trip per refresh: this
 * replica's entry is renewed, entries older than the TTL are dropped, and the rest are counted.
 *
 * `alone` is true only while the last count is fresh and saw this replica alone; without Redis, or
 * before the first count, it is false. A replica that starts is counted by the others within one
 * refresh; until then they may run a batch unlocked beside its locked one, which is why what this
 * guards must be an optimisation of the order of work, never a condition of correctness.
 */
export class ReplicaPresence {
  readonly name = 'replica-presence';
  private live = 0;
  private countedAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ReplicaPresenceOptions) {}

  get alone(): boolean {
    return this.live === 1 && Date.now() - this.countedAt < this.opts.ttlMs;
  }

  /** Renews this replica's entry and counts the live ones; false when Redis did not answer. */
  async refresh(): Promise<boolean> {
    const now = Date.now();
    const { key, instanceId, ttlMs } = this.opts;
    try {
      const replies = await this.opts
        .redis()
        .multi()
        .zadd(key, now, instanceId)
        .zremrangebyscore(key, '-inf', now - ttlMs)
        .zcard(key)
        .pexpire(key, ttlMs * 2)
        .exec();
      const [err, count] = replies?.[2] ?? [new Error('no reply'), 0];
      if (err) throw err;
      this.live = Number(count);
      this.countedAt = now;
      this.opts.onCount?.(this.live);
      return true;
    } catch {
      this.live = 0;
      return false;
    }
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.live = 0;
    await this.opts
      .redis()
      .zrem(this.opts.key, this.opts.instanceId)
      .catch(() => 0);
  }
}

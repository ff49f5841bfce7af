import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import { RedisLock, type Redis } from '@cnode/store';
import type { GcMetrics } from './metrics.js';

/**
 * The one-replica-at-a-time lease of the gc service: a Redis key holding the leader's instance id
 * with a TTL, renewed every third of it. A replica that dies (kill -9 included) stops renewing and
 * the key expires, so a standby takes over within one TTL; a graceful stop releases it at once. A
 * leader that cannot renew in time (Redis lost) considers itself a standby again.
 */
export class LeaderLease implements Startable {
  readonly name = 'gc-leader-lease';
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  /** The lease while we hold it; renewed and released only while it is still ours. */
  private lease: RedisLock | undefined;
  private leaseUntil = 0;

  constructor(
    private readonly deps: {
      redis: () => Redis;
      key: string;
      instanceId: string;
      ttlMs: number;
      metrics: GcMetrics;
      logger: Logger;
      /** Called when this replica becomes the leader. */
      onLead: () => void;
    },
  ) {}

  /** True while we hold an unexpired lease. */
  get isLeader(): boolean {
    return this.leading && Date.now() < this.leaseUntil;
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(250, Math.floor(this.deps.ttlMs / 3)));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.lease?.release().catch(() => false);
    this.setLeading(false);
  }

  /** Takes the lease if free, or renews ours. */
  async tick(): Promise<void> {
    const { key, instanceId, ttlMs } = this.deps;
    const asked = Date.now();
    try {
      if (this.leading && this.lease) {
        if (!(await this.lease.extend(ttlMs))) this.lease = undefined;
      } else {
        this.lease = await RedisLock.acquire(this.deps.redis(), key, ttlMs, instanceId);
      }
      const held = this.lease !== undefined;
      if (held) this.leaseUntil = asked + ttlMs;
      this.setLeading(held);
    } catch (err) {
      this.deps.logger.warn({ err: errorMessage(err) }, 'gc lease check failed');
      if (Date.now() >= this.leaseUntil) this.setLeading(false);
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (!leading) this.lease = undefined;
    this.deps.metrics.leader.set(leading ? 1 : 0);
    this.deps.logger.info({ instance: this.deps.instanceId }, leading ? 'Leading gc' : 'No longer leading gc');
    if (leading) this.deps.onLead();
  }
}

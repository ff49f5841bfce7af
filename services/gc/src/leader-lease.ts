import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import type { Redis } from '@cnode/store';
import type { GcMetrics } from './metrics.js';

// Extend or release the lease only while we still hold it: another replica may have taken it over.
const RENEW_IF_OURS = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_IF_OURS = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

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
    if (this.leading) {
      await this.deps
        .redis()
        .eval(RELEASE_IF_OURS, 1, this.deps.key, this.deps.instanceId)
        .catch(() => undefined);
    }
    this.setLeading(false);
  }

  /** Takes the lease if free, or renews ours. */
  async tick(): Promise<void> {
    const { key, instanceId, ttlMs } = this.deps;
    const asked = Date.now();
    try {
      const redis = this.deps.redis();
      const held = this.leading
        ? (await redis.eval(RENEW_IF_OURS, 1, key, instanceId, String(ttlMs))) === 1
        : (await redis.set(key, instanceId, 'PX', ttlMs, 'NX')) === 'OK';
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
    this.deps.metrics.leader.set(leading ? 1 : 0);
    this.deps.logger.info({ instance: this.deps.instanceId }, leading ? 'Leading gc' : 'No longer leading gc');
    if (leading) this.deps.onLead();
  }
}

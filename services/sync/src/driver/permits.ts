import { randomBytes } from 'node:crypto';
import { RedisLock, type Redis } from '@cnode/store';

/**
 * Takes a permit when fewer than `max` unexpired permits are held: a sorted set of tokens scored by
 * their expiry, so permits of a crashed replica lapse on their own.
 */
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;

/**
 * The global cap on initiator sessions across every sync replica (`SYNC_MAX_CONCURRENT`), and the
 * per-context initiator lock: one session per context at a time, whichever replica runs it.
 */
export class SessionPermits {
  constructor(
    private readonly redis: () => Redis,
    private readonly keys: { permits: string; lock: (context: string) => string },
    private readonly max: number,
  ) {}

  /** A token when a permit was free, else undefined. The permit lapses after `ttlMs`. */
  async acquire(ttlMs: number): Promise<string | undefined> {
    const token = randomBytes(8).toString('hex');
    const now = Date.now();
    const ok = await this.redis().eval(ACQUIRE, 1, this.keys.permits, now, this.max, now + ttlMs, token, ttlMs * 2);
    return ok === 1 ? token : undefined;
  }

  /** Pushes a held permit's expiry to `ttlMs` from now; false when it had lapsed already. */
  async extend(token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis().zadd(this.keys.permits, 'XX', 'CH', Date.now() + ttlMs, token)) === 1;
  }

  async release(token: string): Promise<void> {
    await this.redis().zrem(this.keys.permits, token);
  }

  /** The context's initiator lock, or undefined when another session holds it. */
  lock(context: string, ttlMs: number): Promise<RedisLock | undefined> {
    return RedisLock.acquire(this.redis(), this.keys.lock(context), ttlMs);
  }
}

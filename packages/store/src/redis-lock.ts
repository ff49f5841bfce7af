import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// Both scripts act only while the key still holds our token: a lock that expired may have been taken
// by another holder since, and a plain GET-then-DEL (or PEXPIRE) would release or extend theirs.
const EXTEND_IF_OURS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE_IF_OURS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * A held Redis lock: one key whose value is the holder's token, with a TTL so a holder that dies
 * (kill -9 included) frees it on its own. Taking it is one `SET NX PX`; extending and releasing are
 * compare-and-act scripts, so a holder whose lock lapsed can never extend or release someone else's.
 * The one lock of every service (sync's initiator lock, gc's leader lease, state-delta's governance
 * drain and parent fetch).
 */
export class RedisLock {
  private constructor(
    private readonly redis: Redis,
    readonly key: string,
    readonly token: string,
  ) {}

  /**
   * Takes the lock when it is free; undefined when another holder has it. `token` names the holder
   * (a random one by default); reuse one only where the holder is unique (a process instance id).
   */
  static async acquire(
    redis: Redis,
    key: string,
    ttlMs: number,
    token = randomBytes(12).toString('hex'),
  ): Promise<RedisLock | undefined> {
    const ok = await redis.set(key, token, 'PX', lockTtl(ttlMs), 'NX');
    return ok === 'OK' ? new RedisLock(redis, key, token) : undefined;
  }

  /** Resets the TTL to `ttlMs` while the lock is still ours; false when it lapsed (and may be another's). */
  async extend(ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(EXTEND_IF_OURS, 1, this.key, this.token, String(lockTtl(ttlMs)))) === 1;
  }

  /** Deletes the key if it still holds our token; false when it had lapsed already. */
  async release(): Promise<boolean> {
    return (await this.redis.eval(RELEASE_IF_OURS, 1, this.key, this.token)) === 1;
  }
}

function lockTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs < 1) throw new RangeError(`lock TTL must be ≥ 1 ms, not ${ttlMs}`);
  return Math.ceil(ttlMs);
}

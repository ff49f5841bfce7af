import { BoundedCache, type Registry } from '@cnode/runtime';

/** Buckets kept at most; the least recently used goes first (it starts full again if it returns). */
export const RATE_LIMITER_MAX_KEYS = 10_000;

/**
 * Token buckets per key (a client token's grant): `ratePerSecond` refill up to `burst`. `take`
 * answers 0 when a request may go, else the milliseconds until one may. With a registry, its
 * buckets show as the `app_api_rate_buckets` cache (size, bound, evictions).
 */
export class RateLimiter {
  private readonly buckets: BoundedCache<string, { tokens: number; at: number }>;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
    registry?: Registry,
  ) {
    this.buckets = new BoundedCache('app_api_rate_buckets', RATE_LIMITER_MAX_KEYS, registry);
  }

  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.ratePerSecond) / 1000);
    bucket.at = now;
    let waitMs = 0;
    if (bucket.tokens >= 1) bucket.tokens -= 1;
    else waitMs = Math.ceil(((1 - bucket.tokens) * 1000) / this.ratePerSecond);
    this.buckets.set(key, bucket);
    return waitMs;
  }

  get size(): number {
    return this.buckets.size;
  }
}

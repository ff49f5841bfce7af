/** Buckets kept at most; the least recently used goes first (it starts full again if it returns). */
export const RATE_LIMITER_MAX_KEYS = 10_000;

/**
 * Token buckets per key (a client token's grant): `ratePerSecond` refill up to `burst`. `take`
 * answers 0 when a request may go, else the milliseconds until one may.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    this.buckets.delete(key);
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.ratePerSecond) / 1000);
    bucket.at = now;
    let waitMs = 0;
    if (bucket.tokens >= 1) bucket.tokens -= 1;
    else waitMs = Math.ceil(((1 - bucket.tokens) * 1000) / this.ratePerSecond);
    if (this.buckets.size >= RATE_LIMITER_MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value!);
    this.buckets.set(key, bucket);
    return waitMs;
  }

  get size(): number {
    return this.buckets.size;
  }
}

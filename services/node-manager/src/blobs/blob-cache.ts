import type { Catalog } from '@cnode/bus';
import type { Redis } from '@cnode/store';
import type { Counter, Gauge } from 'prom-client';

/** Why a cached blob left the cache. */
export enum BlobEvictionReason {
  /** Not read for longer than the maximum age. */
  Age = 'age',
  /** More entries than the maximum count: least recently read first. */
  Count = 'count',
  /** More bytes than the maximum: least recently read first. */
  Memory = 'memory',
}

export interface BlobCacheLimits {
  maxAgeMs: number;
  maxCount: number;
  maxBytes: number;
  /** Blobs larger than this are never cached. */
  entryMaxBytes: number;
  /** The eviction period: entries also carry a TTL of maxAge + 2 periods, a backstop if no replica evicts. */
  evictionIntervalMs: number;
}

export interface BlobCacheMetrics {
  requests: Counter<'outcome'>;
  evictions: Counter<'reason'>;
  entries: Gauge;
  bytes: Gauge;
}

/** One cached blob as upstream's `CachedBlob`: its bytes and when it was last read. */
export interface CachedBlob {
  data: Buffer;
  lastAccessedMs: number;
}

/**
 * Upstream's `blob_cache`, in Redis so every node-manager replica shares it: the bytes
 * of each blob under its own key, the last access time of each in a sorted set (`touch()` on every
 * read), and the sizes in a hash. evict() runs upstream's three passes: age, then count, then
 * bytes, least recently read first; each eviction is counted by reason. The clock is injected.
 */
export class BlobCache {
  constructor(
    private readonly deps: {
      redis: () => Redis;
      catalog: Catalog;
      limits: BlobCacheLimits;
      metrics: BlobCacheMetrics;
      now?: () => number;
    },
  ) {}

  private get keys() {
    return this.deps.catalog.redis;
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  private get ttlMs(): number {
    return this.deps.limits.maxAgeMs + 2 * this.deps.limits.evictionIntervalMs;
  }

  /** The cached bytes (and the entry is touched), or undefined. */
  async get(blobHex: string): Promise<CachedBlob | undefined> {
    const redis = this.deps.redis();
    const data = await redis.getBuffer(this.keys.blobCacheData(blobHex));
    if (!data) {
      this.deps.metrics.requests.inc({ outcome: 'miss' });
      // The backstop TTL may have dropped the bytes: drop the bookkeeping too.
      await this.remove([blobHex]);
      return undefined;
    }
    const lastAccessedMs = this.now();
    await redis
      .multi()
      .zadd(this.keys.blobCacheIndex, lastAccessedMs, blobHex)
      .pexpire(this.keys.blobCacheData(blobHex), this.ttlMs)
      .exec();
    this.deps.metrics.requests.inc({ outcome: 'hit' });
    return { data, lastAccessedMs };
  }

  /** Caches the bytes unless they are larger than an entry may be; returns whether it did. */
  async put(blobHex: string, data: Buffer): Promise<boolean> {
    if (data.length > this.deps.limits.entryMaxBytes || data.length > this.deps.limits.maxBytes) return false;
    await this.deps
      .redis()
      .multi()
      .set(this.keys.blobCacheData(blobHex), data, 'PX', this.ttlMs)
      .zadd(this.keys.blobCacheIndex, this.now(), blobHex)
      .hset(this.keys.blobCacheSizes, blobHex, data.length)
      .exec();
    return true;
  }

  /** Drops a blob (deleted from the store). */
  async invalidate(blobHex: string): Promise<void> {
    await this.remove([blobHex]);
  }

  /** Entries and bytes held now. */
  async usage(): Promise<{ entries: number; bytes: number }> {
    const sizes = await this.deps.redis().hvals(this.keys.blobCacheSizes);
    return { entries: sizes.length, bytes: sizes.reduce((sum, s) => sum + Number(s), 0) };
  }

  /** Upstream's three eviction passes; returns how many entries each removed. */
  async evict(): Promise<Record<BlobEvictionReason, number>> {
    const { maxAgeMs, maxCount, maxBytes } = this.deps.limits;
    const redis = this.deps.redis();
    const index = this.keys.blobCacheIndex;
    const removed = { [BlobEvictionReason.Age]: 0, [BlobEvictionReason.Count]: 0, [BlobEvictionReason.Memory]: 0 };

    const stale = await redis.zrangebyscore(index, '-inf', `(${this.now() - maxAgeMs}`);
    removed[BlobEvictionReason.Age] = await this.remove(stale);

    const count = await redis.zcard(index);
    if (count > maxCount)
      removed[BlobEvictionReason.Count] = await this.remove(
        await redis.zrange(index, '0', String(count - maxCount - 1)),
      );

    let { bytes } = await this.usage();
    while (bytes > maxBytes) {
      const [oldest] = await redis.zrange(index, '0', '0');
      if (oldest === undefined) break;
      const size = Number((await redis.hget(this.keys.blobCacheSizes, oldest)) ?? 0);
      removed[BlobEvictionReason.Memory] += await this.remove([oldest]);
      bytes -= size;
    }

    for (const reason of Object.values(BlobEvictionReason)) {
      if (removed[reason] > 0) this.deps.metrics.evictions.inc({ reason }, removed[reason]);
    }
    const usage = await this.usage();
    this.deps.metrics.entries.set(usage.entries);
    this.deps.metrics.bytes.set(usage.bytes);
    return removed;
  }

  /** Removes entries; returns how many were in the index (a concurrent evictor may have taken some). */
  private async remove(blobHexes: readonly string[]): Promise<number> {
    if (blobHexes.length === 0) return 0;
    const results = await this.deps
      .redis()
      .multi()
      .zrem(this.keys.blobCacheIndex, ...blobHexes)
      .hdel(this.keys.blobCacheSizes, ...blobHexes)
      .del(...blobHexes.map((hex) => this.keys.blobCacheData(hex)))
      .exec();
    return Number(results?.[0]?.[1] ?? 0);
  }
}

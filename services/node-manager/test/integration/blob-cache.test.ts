/**
 * The hot blob cache in the real Redis, with an injected clock: touch on read, and
 * eviction by age, by count and by bytes, each counted by reason.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createCatalog } from '@cnode/bus';
import { TEST_INFRA, metricValue, uniqueNodeName } from '@cnode/testing';
import { BlobCache, BlobEvictionReason, type BlobCacheLimits } from '../../src/blobs/blob-cache.js';
import { createNodeManagerMetrics } from '../../src/metrics.js';

const catalog = createCatalog(uniqueNodeName('bc'));
const redis = new Redis(TEST_INFRA.redisUrl, { keyPrefix: catalog.redis.prefix });
let now = 1_000_000;
let registry: Registry;

const limits: BlobCacheLimits = {
  maxAgeMs: 300_000,
  maxCount: 3,
  maxBytes: 1000,
  entryMaxBytes: 600,
  evictionIntervalMs: 300_000,
};

function cacheWith(overrides: Partial<BlobCacheLimits> = {}): BlobCache {
  return new BlobCache({
    redis: () => redis,
    catalog,
    limits: { ...limits, ...overrides },
    metrics: createNodeManagerMetrics(registry).blobCache,
    now: () => now,
  });
}

const evicted = (reason: BlobEvictionReason) => metricValue(registry, 'blob_cache_evictions_total', { reason });

beforeEach(async () => {
  registry = new Registry();
  const keys = await redis.keys(`${catalog.redis.prefix}blob-cache:*`);
  if (keys.length > 0) await redis.del(...keys.map((k) => k.slice(catalog.redis.prefix.length)));
});

afterAll(() => {
  redis.disconnect();
});

describe('blob cache (real Redis, injected clock)', () => {
  it('returns what it holds and touches the entry on every read', async () => {
    const cache = cacheWith();
    const data = randomBytes(100);
    expect(await cache.put('aa', data)).toBe(true);
    now += 1000;
    const hit = await cache.get('aa');
    expect(hit?.data.equals(data)).toBe(true);
    expect(hit?.lastAccessedMs).toBe(now);
    expect(await redis.zscore(catalog.redis.blobCacheIndex, 'aa')).toBe(String(now));
    expect(await cache.get('bb')).toBeUndefined();
    expect(await metricValue(registry, 'blob_cache_requests_total', { outcome: 'hit' })).toBe(1);
    expect(await metricValue(registry, 'blob_cache_requests_total', { outcome: 'miss' })).toBe(1);
    // Larger than an entry may be: not cached.
    expect(await cache.put('cc', randomBytes(601))).toBe(false);
    expect(await cache.usage()).toEqual({ entries: 1, bytes: 100 });
  });

  it('evicts entries not read for longer than the maximum age, and keeps a touched one', async () => {
    const cache = cacheWith();
    await cache.put('old', randomBytes(10));
    await cache.put('touched', randomBytes(10));
    now += 200_000;
    await cache.get('touched');
    now += 100_001;
    expect(await cache.evict()).toEqual({ age: 1, count: 0, memory: 0 });
    expect(await cache.get('old')).toBeUndefined();
    expect(await cache.get('touched')).toBeDefined();
    expect(await evicted(BlobEvictionReason.Age)).toBe(1);
  });

  it('evicts the least recently read beyond the maximum count', async () => {
    const cache = cacheWith();
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      await cache.put(id, randomBytes(10));
      now += 10;
    }
    await cache.get('a');
    expect(await cache.evict()).toEqual({ age: 0, count: 2, memory: 0 });
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.get('c')).toBeUndefined();
    for (const id of ['a', 'd', 'e']) expect(await cache.get(id)).toBeDefined();
    expect(await evicted(BlobEvictionReason.Count)).toBe(2);
  });

  it('evicts the least recently read until the bytes fit', async () => {
    const cache = cacheWith({ maxCount: 100 });
    for (const id of ['a', 'b', 'c', 'd']) {
      await cache.put(id, randomBytes(400));
      now += 10;
    }
    expect(await cache.usage()).toEqual({ entries: 4, bytes: 1600 });
    expect(await cache.evict()).toEqual({ age: 0, count: 0, memory: 2 });
    expect(await cache.usage()).toEqual({ entries: 2, bytes: 800 });
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.get('d')).toBeDefined();
    expect(await evicted(BlobEvictionReason.Memory)).toBe(2);
    expect(await metricValue(registry, 'blob_cache_bytes')).toBe(800);
  });

  it('every entry carries a TTL, so a cache nobody evicts still empties', async () => {
    const cache = cacheWith();
    await cache.put('x', randomBytes(10));
    const ttl = await redis.pttl(catalog.redis.blobCacheData('x'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(limits.maxAgeMs + 2 * limits.evictionIntervalMs);
    await cache.invalidate('x');
    expect(await cache.usage()).toEqual({ entries: 0, bytes: 0 });
  });
});

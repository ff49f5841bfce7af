import { Counter, Gauge, type Registry } from 'prom-client';

/** Why an entry left a cache. Metric label values. */
export enum CacheEviction {
  /** The cache was full: the least recently used entry made room. */
  Capacity = 'capacity',
  /** An event changed what the entry stood for (a group op, a key rotation, a join or leave). */
  Invalidated = 'invalidated',
  /** The entry outlived the cache's maximum age. */
  Expired = 'expired',
  /** The entry was not worth keeping after all (its load failed, or its answer is not cached). */
  Discarded = 'discarded',
}

/** What one cache counted since it was made, by label value; read into the metrics when scraped. */
interface CacheCounts {
  lookups: { hit: number; miss: number };
  evicted: Record<CacheEviction, number>;
}

/** Registries one cache exports to at most. */
const MAX_EXPORTS = 4;

type ExportedCaches = Set<BoundedCache<unknown, unknown>>;

/**
 * Per registry, the caches exported to it. The cache metrics are registered once per registry and
 * filled from these caches' counts when scraped: a lookup only adds to a number (labelled metric
 * updates on every lookup cost more than the lookup, and several caches are read per delta).
 */
const cachesByRegistry = new WeakMap<Registry, ExportedCaches>();

/** A counter of every exported cache's non-zero counts, one series per cache and label value. */
function countsMetric(
  registry: Registry,
  caches: ExportedCaches,
  spec: { name: string; help: string; label: 'result' | 'reason' },
  counts: (cache: BoundedCache<unknown, unknown>) => Record<string, number>,
): void {
  new Counter({
    name: spec.name,
    help: spec.help,
    labelNames: ['cache', spec.label],
    registers: [registry],
    collect() {
      this.reset();
      for (const cache of caches) {
        for (const [value, n] of Object.entries(counts(cache))) {
          if (n > 0) this.inc({ cache: cache.name, [spec.label]: value }, n);
        }
      }
    },
  });
}

/** A gauge of one number per exported cache. */
function perCacheGauge(
  registry: Registry,
  caches: ExportedCaches,
  spec: { name: string; help: string },
  value: (cache: BoundedCache<unknown, unknown>) => number,
): void {
  new Gauge({
    name: spec.name,
    help: spec.help,
    labelNames: ['cache'],
    registers: [registry],
    collect() {
      this.reset();
      for (const cache of caches) this.set({ cache: cache.name }, value(cache));
    },
  });
}

function registerCacheMetrics(registry: Registry): ExportedCaches {
  const known = cachesByRegistry.get(registry);
  if (known) return known;
  const caches: ExportedCaches = new Set();
  cachesByRegistry.set(registry, caches);
  const lookups = {
    name: 'cache_lookups_total',
    help: 'Lookups in an in-memory cache, by cache and result (hit, miss)',
    label: 'result',
  } as const;
  countsMetric(registry, caches, lookups, (cache) => cache.counts.lookups);
  const evictions = {
    name: 'cache_evictions_total',
    help: 'Entries that left an in-memory cache, by cache and reason (capacity, invalidated, expired, discarded)',
    label: 'reason',
  } as const;
  countsMetric(registry, caches, evictions, (cache) => cache.counts.evicted);
  const entries = { name: 'cache_entries', help: 'Entries held by an in-memory cache' };
  perCacheGauge(registry, caches, entries, (cache) => cache.size);
  const capacity = { name: 'cache_capacity', help: 'Most entries an in-memory cache holds (its bound)' };
  perCacheGauge(registry, caches, capacity, (cache) => cache.maxEntries);
  return caches;
}

/**
 * A bounded least-recently-used map: at most `maxEntries`, the least recently used entry goes when
 * a new one needs room. With a registry, lookups (hit/miss), evictions (by reason), size and bound
 * are exported under the cache's name.
 */
export class BoundedCache<K, V> {
  private readonly map = new Map<K, V>();
  /** The registries it is exported to (usually one; a process-wide cache, one per service built). */
  private readonly exports: Registry[] = [];
  /** Lookups and evictions since the cache was made (what its metrics show). */
  readonly counts: CacheCounts = {
    lookups: { hit: 0, miss: 0 },
    evicted: {
      [CacheEviction.Capacity]: 0,
      [CacheEviction.Invalidated]: 0,
      [CacheEviction.Expired]: 0,
      [CacheEviction.Discarded]: 0,
    },
  };

  constructor(
    readonly name: string,
    readonly maxEntries: number,
    registry?: Registry,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('a cache holds at least one entry');
    if (registry) this.exportTo(registry);
  }

  /**
   * Exports its lookups, evictions, size and bound to `registry` too (once per registry; a process
   * that builds many services, as tests do, exports to the newest few).
   */
  exportTo(registry: Registry): void {
    if (this.exports.includes(registry)) return;
    this.exports.push(registry);
    registerCacheMetrics(registry).add(this);
    if (this.exports.length > MAX_EXPORTS) {
      const oldest = this.exports.shift()!;
      cachesByRegistry.get(oldest)?.delete(this);
    }
  }

  get size(): number {
    return this.map.size;
  }

  /**
   * The entry, now the most recently used; counted as a hit or a miss. With `fresh`, an entry it
   * rejects is dropped (counted as expired) and the lookup is a miss.
   */
  get(key: K, fresh?: (value: V) => boolean): V | undefined {
    let value = this.map.get(key);
    if (value !== undefined && fresh && !fresh(value)) {
      this.discard(key, CacheEviction.Expired);
      value = undefined;
    }
    if (value === undefined) {
      this.counts.lookups.miss++;
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, value);
    this.counts.lookups.hit++;
    return value;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Every value, least recently used first, without counting lookups or reordering. */
  values(): IterableIterator<V> {
    return this.map.values();
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.maxEntries) {
      this.map.delete(this.map.keys().next().value as K);
      this.counts.evicted[CacheEviction.Capacity]++;
    }
  }

  /** Removes the entry because what it stood for changed. */
  delete(key: K): boolean {
    return this.discard(key, CacheEviction.Invalidated);
  }

  /** Removes the entry for `reason` without counting a lookup. */
  discard(key: K, reason: CacheEviction): boolean {
    const had = this.map.delete(key);
    if (had) this.counts.evicted[reason]++;
    return had;
  }

  /** Removes the entry for `reason` only while it is still `value` (a newer one is left alone). */
  discardIf(key: K, value: V, reason: CacheEviction): boolean {
    return this.map.get(key) === value && this.discard(key, reason);
  }

  /** Removes every entry matching `predicate` (e.g. all of one group), counted as invalidations. */
  deleteWhere(predicate: (key: K, value: V) => boolean): number {
    let n = 0;
    for (const [k, v] of this.map) {
      if (predicate(k, v)) {
        this.map.delete(k);
        n++;
      }
    }
    this.counts.evicted[CacheEviction.Invalidated] += n;
    return n;
  }

  clear(): void {
    this.deleteWhere(() => true);
  }
}

/** Caches that belong to the process, not to one component (key objects, cut projections). */
const processWideCaches = new Set<BoundedCache<unknown, unknown>>();

/**
 * A cache shared by everything in the process, exported to every service registry that calls
 * `exportProcessWideCaches` (each service does when it is built). For values that are the same
 * whoever asks: an imported key, the projection of a content-addressed cut.
 */
export function processWideCache<K, V>(name: string, maxEntries: number): BoundedCache<K, V> {
  const cache = new BoundedCache<K, V>(name, maxEntries);
  processWideCaches.add(cache);
  return cache;
}

/** Exports every process-wide cache (they are created when their modules load) to `registry`. */
export function exportProcessWideCaches(registry: Registry): void {
  for (const cache of processWideCaches) cache.exportTo(registry);
}

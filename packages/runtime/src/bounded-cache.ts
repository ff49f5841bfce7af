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

interface CacheMetrics {
  lookups: Counter<'cache' | 'result'>;
  evictions: Counter<'cache' | 'reason'>;
  entries: Gauge<'cache'>;
  capacity: Gauge<'cache'>;
}

/** Registries one cache exports to at most. */
const MAX_EXPORTS = 4;

/** Cache metrics are registered once per registry; every cache of the process labels its own series. */
const metricsByRegistry = new WeakMap<Registry, CacheMetrics>();

function cacheMetrics(registry: Registry): CacheMetrics {
  let m = metricsByRegistry.get(registry);
  if (!m) {
    m = {
      lookups: new Counter({
        name: 'cache_lookups_total',
        help: 'Lookups in an in-memory cache, by cache and result (hit, miss)',
        labelNames: ['cache', 'result'],
        registers: [registry],
      }),
      evictions: new Counter({
        name: 'cache_evictions_total',
        help: 'Entries that left an in-memory cache, by cache and reason (capacity, invalidated, expired, discarded)',
        labelNames: ['cache', 'reason'],
        registers: [registry],
      }),
      entries: new Gauge({
        name: 'cache_entries',
        help: 'Entries held by an in-memory cache',
        labelNames: ['cache'],
        registers: [registry],
      }),
      capacity: new Gauge({
        name: 'cache_capacity',
        help: 'Most entries an in-memory cache holds (its bound)',
        labelNames: ['cache'],
        registers: [registry],
      }),
    };
    metricsByRegistry.set(registry, m);
  }
  return m;
}

/**
 * A bounded least-recently-used map: at most `maxEntries`, the least recently used entry goes when
 * a new one needs room. With a registry, lookups (hit/miss), evictions (by reason), size and bound
 * are exported under the cache's name.
 */
export class BoundedCache<K, V> {
  private readonly map = new Map<K, V>();
  /** The registries it is exported to (usually one; a process-wide cache, one per service built). */
  private readonly exports: CacheMetrics[] = [];
  private readonly label: { cache: string };

  constructor(
    readonly name: string,
    readonly maxEntries: number,
    registry?: Registry,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('a cache holds at least one entry');
    this.label = { cache: name };
    if (registry) this.exportTo(registry);
  }

  /**
   * Exports its lookups, evictions, size and bound to `registry` too (once per registry; a process
   * that builds many services, as tests do, exports to the newest few).
   */
  exportTo(registry: Registry): void {
    const metrics = cacheMetrics(registry);
    if (this.exports.includes(metrics)) return;
    this.exports.push(metrics);
    if (this.exports.length > MAX_EXPORTS) this.exports.shift();
    metrics.capacity.set(this.label, this.maxEntries);
    metrics.entries.set(this.label, this.map.size);
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
      for (const m of this.exports) m.lookups.inc({ ...this.label, result: 'miss' });
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, value);
    for (const m of this.exports) m.lookups.inc({ ...this.label, result: 'hit' });
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
      for (const m of this.exports) m.evictions.inc({ ...this.label, reason: CacheEviction.Capacity });
    }
    for (const m of this.exports) m.entries.set(this.label, this.map.size);
  }

  /** Removes the entry because what it stood for changed. */
  delete(key: K): boolean {
    return this.discard(key, CacheEviction.Invalidated);
  }

  /** Removes the entry for `reason` without counting a lookup. */
  discard(key: K, reason: CacheEviction): boolean {
    const had = this.map.delete(key);
    if (had) {
      for (const m of this.exports) {
        m.evictions.inc({ ...this.label, reason });
        m.entries.set(this.label, this.map.size);
      }
    }
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
    if (n > 0) {
      for (const m of this.exports) {
        m.evictions.inc({ ...this.label, reason: CacheEviction.Invalidated }, n);
        m.entries.set(this.label, this.map.size);
      }
    }
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

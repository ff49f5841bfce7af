import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { BoundedCache, CacheEviction } from '../../src/index.js';

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  const found = (await metric!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return found?.value ?? 0;
}

describe('BoundedCache', () => {
  it('keeps at most its bound, evicting the least recently used, and counts hits, misses and evictions', async () => {
    const registry = new Registry();
    const cache = new BoundedCache<string, number>('t', 2, registry);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recently used
    cache.set('c', 3); // evicts b
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
    expect(await value(registry, 'cache_lookups_total', { cache: 't', result: 'hit' })).toBe(3);
    expect(await value(registry, 'cache_lookups_total', { cache: 't', result: 'miss' })).toBe(1);
    expect(await value(registry, 'cache_evictions_total', { cache: 't', reason: CacheEviction.Capacity })).toBe(1);
    expect(await value(registry, 'cache_entries', { cache: 't' })).toBe(2);
    expect(await value(registry, 'cache_capacity', { cache: 't' })).toBe(2);
  });

  it('an entry its freshness test rejects is dropped as expired and the lookup is a miss', async () => {
    const registry = new Registry();
    const cache = new BoundedCache<string, { at: number }>('f', 4, registry);
    cache.set('k', { at: 10 });
    expect(cache.get('k', (e) => e.at >= 10)).toEqual({ at: 10 });
    expect(cache.get('k', (e) => e.at >= 11)).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(await value(registry, 'cache_evictions_total', { cache: 'f', reason: CacheEviction.Expired })).toBe(1);
    expect(await value(registry, 'cache_lookups_total', { cache: 'f', result: 'miss' })).toBe(1);
  });

  it('invalidates by key and by predicate, and discardIf leaves a newer entry alone', async () => {
    const registry = new Registry();
    const cache = new BoundedCache<string, object>('i', 8, registry);
    const first = {};
    cache.set('g1:a', first);
    cache.set('g1:b', {});
    cache.set('g2:a', {});
    expect(cache.deleteWhere((k) => k.startsWith('g1:'))).toBe(2);
    expect(cache.has('g2:a')).toBe(true);
    cache.set('x', {});
    expect(cache.discardIf('x', first, CacheEviction.Discarded)).toBe(false);
    expect(cache.has('x')).toBe(true);
    expect(cache.delete('x')).toBe(true);
    expect(await value(registry, 'cache_evictions_total', { cache: 'i', reason: CacheEviction.Invalidated })).toBe(3);
  });

  it('exports to several registries, each once', async () => {
    const [r1, r2] = [new Registry(), new Registry()];
    const cache = new BoundedCache<string, number>('m', 2);
    cache.exportTo(r1);
    cache.exportTo(r1);
    cache.exportTo(r2);
    cache.set('a', 1);
    cache.get('a');
    for (const r of [r1, r2]) {
      expect(await value(r, 'cache_lookups_total', { cache: 'm', result: 'hit' })).toBe(1);
      expect(await value(r, 'cache_entries', { cache: 'm' })).toBe(1);
    }
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { TEST_INFRA } from '@cnode/testing';
import { ReplicaPresence } from '../../src/index.js';

const prefix = `presencetest:${randomBytes(4).toString('hex')}:`;
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(TEST_INFRA.redisUrl, { keyPrefix: prefix });
  await redis.ping();
});

afterAll(async () => {
  await redis.del('replicas');
  redis.disconnect();
});

const replica = (instanceId: string, counts: number[] = [], ttlMs = 60_000) =>
  new ReplicaPresence({
    redis: () => redis,
    key: 'replicas',
    instanceId,
    refreshMs: 60_000,
    ttlMs,
    onCount: (n) => counts.push(n),
  });

describe('ReplicaPresence (real Redis)', () => {
  it('is alone only while no other replica is live, and tells the count', async () => {
    const counts: number[] = [];
    const a = replica('a', counts);
    expect(a.alone).toBe(false); // nothing counted yet
    await a.start();
    expect(a.alone).toBe(true);
    const b = replica('b');
    await b.start();
    expect(b.alone).toBe(false);
    await a.refresh();
    expect(a.alone).toBe(false);
    expect(counts).toEqual([1, 2]);
    await b.stop();
    expect(b.alone).toBe(false);
    await a.refresh();
    expect(a.alone).toBe(true);
    await a.stop();
  });

  it('forgets a replica that stopped refreshing (a crash) after the TTL', async () => {
    const crashed = replica('crashed', [], 200);
    await crashed.refresh();
    const survivor = replica('survivor', [], 200);
    await survivor.refresh();
    expect(survivor.alone).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    await survivor.refresh();
    expect(survivor.alone).toBe(true);
    await survivor.stop();
  });

  it('is never alone when Redis does not answer', async () => {
    const broken = new Redis(TEST_INFRA.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
    broken.disconnect();
    const p = new ReplicaPresence({
      redis: () => broken,
      key: 'replicas',
      instanceId: 'offline',
      refreshMs: 60_000,
      ttlMs: 60_000,
    });
    expect(await p.refresh()).toBe(false);
    expect(p.alone).toBe(false);
  });
});

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { TEST_INFRA } from '@cnode/testing';
import { SessionPermits } from '../../src/driver/permits.js';

const prefix = `permittest:${randomBytes(4).toString('hex')}:`;
let redis: Redis;
let permits: SessionPermits;

beforeAll(async () => {
  redis = new Redis(TEST_INFRA.redisUrl, { keyPrefix: prefix });
  permits = new SessionPermits(() => redis, { permits: 'permits', lock: (c) => `lock:${c}` }, 2);
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys.map((k) => k.slice(prefix.length)));
  redis.disconnect();
});

describe('sync session permits (real Redis)', () => {
  it('caps sessions, keeps a renewed permit past its first TTL, and frees a lapsed one (a crashed holder)', async () => {
    const kept = await permits.acquire(300);
    const crashed = await permits.acquire(300);
    expect(kept).toBeDefined();
    expect(crashed).toBeDefined();
    expect(await permits.acquire(300)).toBeUndefined();
    // The live holder renews; the crashed one does not.
    await sleep(200);
    expect(await permits.extend(kept!, 300)).toBe(true);
    await sleep(200);
    // The crashed holder's permit lapsed: a new session gets it, the renewed one still counts.
    const next = await permits.acquire(300);
    expect(next).toBeDefined();
    expect(await permits.acquire(300)).toBeUndefined();
    expect(await permits.extend(crashed!, 300)).toBe(false);
    await permits.release(kept!);
    await permits.release(next!);
  });

  it('frees the context lock of a crashed session within its TTL', async () => {
    const held = await permits.lock('ctx', 200);
    expect(held).toBeDefined();
    expect(await permits.lock('ctx', 200)).toBeUndefined();
    await sleep(300);
    const next = await permits.lock('ctx', 200);
    expect(next).toBeDefined();
    await next!.release();
  });
});

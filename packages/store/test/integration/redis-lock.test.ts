import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { TEST_INFRA } from '@cnode/testing';
import { RedisLock } from '../../src/index.js';

// Each contender has its own connection, as replicas in separate processes would.
const CONTENDERS = 8;
const prefix = `locktest:${randomBytes(4).toString('hex')}:`;
let clients: Redis[];

beforeAll(async () => {
  clients = Array.from({ length: CONTENDERS }, () => new Redis(TEST_INFRA.redisUrl, { keyPrefix: prefix }));
  await Promise.all(clients.map((c) => c.ping()));
});

afterAll(async () => {
  const keys = await clients[0]!.keys(`${prefix}*`);
  if (keys.length > 0) await clients[0]!.del(...keys.map((k) => k.slice(prefix.length)));
  clients.forEach((c) => c.disconnect());
});

describe('RedisLock (real Redis)', () => {
  it('under contention at most one holder is inside at any time, and every contender gets its turns', async () => {
    const key = 'contended';
    let inside = 0;
    let maxInside = 0;
    const turns = new Array<number>(CONTENDERS).fill(0);
    const deadline = Date.now() + 20_000;
    await Promise.all(
      clients.map(async (redis, i) => {
        while (turns[i]! < 10 && Date.now() < deadline) {
          const lock = await RedisLock.acquire(redis, key, 5_000);
          if (!lock) {
            await sleep(Math.random() * 3);
            continue;
          }
          inside++;
          maxInside = Math.max(maxInside, inside);
          // Hold it across a few round trips, as a real critical section would.
          await sleep(1 + Math.random() * 3);
          expect(await lock.extend(5_000)).toBe(true);
          inside--;
          turns[i]!++;
          expect(await lock.release()).toBe(true);
        }
      }),
    );
    expect(maxInside).toBe(1);
    expect(turns).toEqual(new Array<number>(CONTENDERS).fill(10));
  });

  it('a holder whose lock lapsed neither extends nor releases the next holder', async () => {
    const [a, b] = clients as [Redis, Redis];
    const key = 'lapsed';
    const first = await RedisLock.acquire(a, key, 50);
    expect(first).toBeDefined();
    expect(await RedisLock.acquire(b, key, 5_000)).toBeUndefined();
    await sleep(120);
    const second = await RedisLock.acquire(b, key, 5_000);
    expect(second).toBeDefined();
    expect(await first!.extend(60_000)).toBe(false);
    expect(await first!.release()).toBe(false);
    expect(await a.get(key)).toBe(second!.token);
    expect(await a.pttl(key)).toBeLessThanOrEqual(5_000);
    expect(await second!.release()).toBe(true);
    expect(await a.exists(key)).toBe(0);
  });

  it('extend resets the TTL of a lock still held; a released lock is free at once', async () => {
    const [a, b] = clients as [Redis, Redis];
    const key = 'extended';
    const lock = (await RedisLock.acquire(a, key, 100))!;
    expect(await lock.extend(30_000)).toBe(true);
    expect(await a.pttl(key)).toBeGreaterThan(10_000);
    await sleep(150);
    expect(await RedisLock.acquire(b, key, 1_000)).toBeUndefined();
    expect(await lock.release()).toBe(true);
    expect(await RedisLock.acquire(b, key, 1_000)).toBeDefined();
  });

  it('refuses a TTL that would make a lock that never lapses or is never held', async () => {
    await expect(RedisLock.acquire(clients[0]!, 'bad-ttl', 0)).rejects.toThrow(RangeError);
    await expect(RedisLock.acquire(clients[0]!, 'bad-ttl', Number.NaN)).rejects.toThrow(RangeError);
  });
});

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { HotState, type GroupStore, type HotStateOptions, type HotStateStores } from '../../src/index.js';

/** A group store whose `keys` answers only when the test says so, counting reads. */
function slowKeys() {
  const reads: { resolve: (keys: Map<string, Buffer>) => void; reject: (err: Error) => void }[] = [];
  const groups = {
    keys: () =>
      new Promise<Map<string, Buffer>>((resolve, reject) => {
        reads.push({ resolve, reject });
      }),
  } as unknown as GroupStore;
  return { groups, reads };
}

function hotState(groups: GroupStore, now: () => number, maxAgeMs = 1_000): HotState {
  const unused = () => {
    throw new Error('not used by this test');
  };
  const opts: HotStateOptions = {
    sql: unused,
    channel: 'unused',
    stores: () => ({ groups }) as unknown as HotStateStores,
    limits: { entries: 10, maxAgeMs },
    logger: pino({ level: 'silent' }),
    now,
  };
  return new HotState(opts);
}

const keysWith = (n: number) => new Map([[`k${n}`, Buffer.alloc(32, n)]]);

describe('HotState (the cache logic alone)', () => {
  it('shares one read among concurrent callers', async () => {
    const { groups, reads } = slowKeys();
    const hot = hotState(groups, () => 0);
    const group = randomBytes(32);
    const [a, b] = [hot.keysOf(group), hot.keysOf(group)];
    expect(reads).toHaveLength(1);
    reads[0]!.resolve(keysWith(1));
    expect(await a).toBe(await b);
  });

  it('never keeps an answer that was being read while its scope changed', async () => {
    const { groups, reads } = slowKeys();
    const hot = hotState(groups, () => 0);
    const group = randomBytes(32);
    const stale = hot.keysOf(group);
    hot.invalidate('group', group);
    reads[0]!.resolve(keysWith(1));
    await stale;
    const fresh = hot.keysOf(group);
    expect(reads).toHaveLength(2);
    reads[1]!.resolve(keysWith(2));
    expect(await fresh).toEqual(keysWith(2));
    // From now on the fresh answer is served.
    expect(await hot.keysOf(group)).toEqual(keysWith(2));
    expect(reads).toHaveLength(2);
  });

  it('invalidates one group only, and reads again past the maximum age', async () => {
    const { groups, reads } = slowKeys();
    let now = 0;
    const hot = hotState(groups, () => now, 1_000);
    const [g1, g2] = [randomBytes(32), randomBytes(32)];
    const first = [hot.keysOf(g1), hot.keysOf(g2)];
    reads.forEach((r, i) => r.resolve(keysWith(i)));
    await Promise.all(first);
    hot.invalidate('group', g1);
    void hot.keysOf(g1);
    void hot.keysOf(g2);
    expect(reads).toHaveLength(3);
    reads[2]!.resolve(keysWith(9));
    now = 1_001;
    void hot.keysOf(g2);
    expect(reads).toHaveLength(4);
    reads[3]!.resolve(keysWith(8));
  });

  it('keeps no failed read', async () => {
    const { groups, reads } = slowKeys();
    const hot = hotState(groups, () => 0);
    const group = randomBytes(32);
    const failed = hot.keysOf(group);
    reads[0]!.reject(new Error('database away'));
    await expect(failed).rejects.toThrow('database away');
    const again = hot.keysOf(group);
    expect(reads).toHaveLength(2);
    reads[1]!.resolve(keysWith(1));
    expect(await again).toEqual(keysWith(1));
  });
});

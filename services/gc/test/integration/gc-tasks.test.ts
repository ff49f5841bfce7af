/**
 * The GC tasks against a real Postgres, with an injected clock: tombstone GC deletes exactly the
 * tombstones older than the retention (strictly), never a live entry, and leaves the root hash as
 * it was; pending deltas expire by age; compaction prunes old applied deltas and remembers them.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadNodeConfig } from '@cnode/config';
import { Registry } from '@cnode/runtime';
import { GcRepo, StateStore } from '@cnode/store';
import { Author, freshSchema, metricValue, testLogger } from '@cnode/testing';
import { createGcMetrics } from '../../src/metrics.js';
import { collectTombstones } from '../../src/tasks/collect-tombstones.js';
import { compactDags } from '../../src/tasks/compact-dags.js';
import { expirePending } from '../../src/tasks/expire-pending.js';
import type { TaskDeps } from '../../src/tasks/task.js';

const DAY = 86_400_000;
const T0 = 1_900_000_000_000;

let db: Awaited<ReturnType<typeof freshSchema>>;
let states: StateStore;

beforeAll(async () => {
  db = await freshSchema();
  states = new StateStore(db.sql);
});

afterAll(async () => {
  await db.drop();
});

function taskDeps(now: () => number, gc: Partial<TaskDeps['config']> = {}): TaskDeps & { registry: Registry } {
  const registry = new Registry();
  return {
    registry,
    gc: new GcRepo(db.sql),
    config: { ...loadNodeConfig('gc', {}).gc, ...gc },
    metrics: createGcMetrics(registry),
    logger: testLogger(),
    now,
  };
}

async function newContext(): Promise<Buffer> {
  const id = randomBytes(32);
  await states.createContext(id);
  return id;
}

describe('tombstone GC', () => {
  it('deletes tombstones strictly older than the retention, keeps younger ones and every live entry, and leaves the root', async () => {
    const ctx = await newContext();
    let wall = T0;
    const author = new Author(() => wall);
    for (const d of [
      author.write(ctx, [
        { key: 'live-1', value: 'a' },
        { key: 'old', value: 'x' },
        { key: 'edge', value: 'x' },
        { key: 'young', value: 'x' },
      ]),
    ])
      await states.addDelta(d);
    await states.addDelta(author.write(ctx, [{ key: 'old' }]));
    wall = T0 + 1000;
    await states.addDelta(author.write(ctx, [{ key: 'edge' }]));
    wall = T0 + 5000;
    await states.addDelta(author.write(ctx, [{ key: 'young' }, { key: 'live-2', value: 'b' }]));
    const rootBefore = (await states.context(ctx))!.rootHash;

    // Exactly one day after the "edge" delete: not strictly older, so kept.
    const deps = taskDeps(() => T0 + 1000 + DAY);
    const counts = await collectTombstones(deps);
    expect(counts).toMatchObject({ deleted: 1, failed: 0 });
    const entries = (await states.entries(ctx)).map((e) => [e.key.toString(), e.deleted]);
    expect(entries).toEqual([
      ['edge', true],
      ['live-1', false],
      ['live-2', false],
      ['young', true],
    ]);
    expect((await states.context(ctx))!.rootHash).toEqual(rootBefore);
    expect(await states.recomputeRootHash(ctx)).toEqual(rootBefore);
    expect(await metricValue(deps.registry, 'gc_items_deleted_total', { kind: 'tombstone' })).toBe(1);

    // A day and a bit later, both are old enough; live entries still untouched.
    expect((await collectTombstones(taskDeps(() => T0 + 5001 + DAY))).deleted).toBe(2);
    expect((await states.entries(ctx)).map((e) => e.key.toString())).toEqual(['live-1', 'live-2']);
    expect((await states.context(ctx))!.rootHash).toEqual(rootBefore);
  });

  it('stops at GC_MAX_DELETIONS_PER_RUN across contexts, in batches, and the next run goes on', async () => {
    const contexts = [await newContext(), await newContext()];
    for (const ctx of contexts) {
      const author = new Author(() => T0);
      const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
      await states.addDelta(
        author.write(
          ctx,
          keys.map((key) => ({ key, value: 'v' })),
        ),
      );
      await states.addDelta(
        author.write(
          ctx,
          keys.map((key) => ({ key })),
        ),
      );
    }
    const deps = () => taskDeps(() => T0 + 2 * DAY, { maxDeletionsPerRun: 40, batchSize: 7 });
    const tombstones = async () =>
      (await Promise.all(contexts.map((c) => new GcRepo(db.sql).countTombstones(c)))).reduce((a, b) => a + b);
    expect(await tombstones()).toBe(60);
    expect((await collectTombstones(deps())).deleted).toBe(40);
    expect(await tombstones()).toBe(20);
    expect((await collectTombstones(deps())).deleted).toBe(20);
    expect(await tombstones()).toBe(0);
  });

  it('never deletes a key a write revived after the scan looked at it', async () => {
    const ctx = await newContext();
    const author = new Author(() => T0);
    await states.addDelta(author.write(ctx, [{ key: 'k', value: 'v' }]));
    await states.addDelta(author.write(ctx, [{ key: 'k' }]));
    const gc = new GcRepo(db.sql);
    // The batch re-checks the row it deletes: once revived, it is no tombstone any more.
    await states.addDelta(author.write(ctx, [{ key: 'k', value: 'back' }]));
    expect((await gc.deleteTombstoneBatch(ctx, T0 + 2 * DAY, 10)).deleted).toBe(0);
    expect((await states.get(ctx, Buffer.from('k')))?.toString()).toBe('back');
  });
});

describe('pending-delta expiry', () => {
  it('drops pending deltas older than PENDING_DELTA_MAX_AGE and keeps younger ones', async () => {
    const ctx = await newContext();
    const author = new Author(() => T0);
    const orphanParent = author.write(ctx, [{ key: 'p', value: '1' }]);
    const child = author.write(ctx, [{ key: 'c', value: '1' }]);
    await states.addDelta(child); // its parent never arrives
    expect(await states.pendingCount(ctx)).toBe(1);
    const received = Date.now();
    expect((await expirePending(taskDeps(() => received + 60_000))).deleted).toBe(0);
    expect(await states.pendingCount(ctx)).toBe(1);
    const counts = await expirePending(taskDeps(() => received + 301_000));
    expect(counts).toMatchObject({ deleted: 1, contexts: 1 });
    expect(await states.pendingCount(ctx)).toBe(0);
    expect(await states.hasDelta(ctx, orphanParent.deltaId)).toBe(false);
  });
});

describe('DAG compaction', () => {
  it('prunes all but the newest deltas of a large DAG, and their children still apply', async () => {
    const ctx = await newContext();
    const author = new Author(() => T0);
    const chain = Array.from({ length: 30 }, (_, i) => author.write(ctx, [{ key: `k${i % 7}`, value: `${i}` }]));
    for (const d of chain) await states.addDelta(d);
    const rootBefore = (await states.context(ctx))!.rootHash;
    const deps = taskDeps(() => T0, {
      dagCompaction: { enabled: true, minDeltas: 20, retainRecent: 5, checkIntervalMs: 1000 },
    });
    expect((await compactDags(deps)).deleted).toBe(25);
    // Pruned: no longer stored, still known (a pruned checkpoint).
    for (const d of chain.slice(0, 25)) {
      expect(await states.isApplied(ctx, d.deltaId)).toBe(false);
      expect(await states.hasDelta(ctx, d.deltaId)).toBe(true);
    }
    for (const d of chain.slice(25)) expect(await states.isApplied(ctx, d.deltaId)).toBe(true);
    expect(await new GcRepo(db.sql).prunedCount(ctx)).toBe(25);
    expect((await states.context(ctx))!.rootHash).toEqual(rootBefore);

    // A delta built on a pruned one (a peer that was behind) applies: its parent is remembered.
    const late = new Author(() => T0);
    late.learn(chain.slice(0, 10));
    const child = late.write(ctx, [{ key: 'late', value: '1' }]);
    expect((await states.addDelta(child)).outcome).toBe('applied');
    // And a replayed pruned delta is a duplicate, not applied twice.
    expect((await states.addDelta(chain[3]!)).outcome).toBe('duplicate');
    // The pruned ids remembered are bounded: the oldest are forgotten first.
    const gc = new GcRepo(db.sql);
    expect(await gc.forgetPrunedBeyond(ctx, 10)).toBe(15);
    expect(await gc.prunedCount(ctx)).toBe(10);
    // Below the threshold nothing happens.
    expect((await compactDags(deps)).deleted).toBe(0);
  });
});

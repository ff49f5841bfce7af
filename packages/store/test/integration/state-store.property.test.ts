import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import {
  TREE_DEPTH,
  bucketOf,
  computeRootHash,
  computeTree,
  encodeHlc,
  keyHashOf,
  opValueHash,
  reduceActions,
  type Action,
} from '@cnode/primitives';
import { sha256 } from '@cnode/primitives';
import { testLogger } from '@cnode/testing';
import { DeltaOutcome, GcRepo, HotTrees, StateStore, type DagDelta } from '../../src/index.js';
import { Author, freshSchema } from './state-harness.js';

let db: Awaited<ReturnType<typeof freshSchema>>;
let store: StateStore;

beforeAll(async () => {
  db = await freshSchema();
  store = new StateStore(db.sql);
});

afterAll(async () => {
  await db.drop();
});

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f'];

/** One step of a history: an author writes, or an author receives another author's deltas. */
type Step =
  | { kind: 'write'; author: number; ops: { key: string; value?: string }[] }
  | { kind: 'sync'; from: number; to: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      author: fc.nat({ max: 2 }),
      ops: fc.array(
        fc.record(
          { key: fc.constantFrom(...KEYS), value: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }) },
          { requiredKeys: ['key'] },
        ),
        { minLength: 1, maxLength: 4 },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('sync' as const), from: fc.nat({ max: 2 }), to: fc.nat({ max: 2 }) }),
  },
);

/** Replays a history: every delta every author produced, in production order. */
function produce(steps: Step[], wall: () => number): DagDelta[] {
  const contextId = randomBytes(32);
  const authors = [new Author(wall), new Author(wall), new Author(wall)];
  const byAuthor: DagDelta[][] = [[], [], []];
  for (const step of steps) {
    if (step.kind === 'write') byAuthor[step.author]!.push(authors[step.author]!.write(contextId, step.ops));
    else authors[step.to]!.learn(byAuthor[step.from]!);
  }
  return byAuthor.flat().sort((x, y) => Buffer.compare(encodeHlc(x.hlc), encodeHlc(y.hlc)));
}

/**
 * Applies `deltas` one by one to a new context. With `held`, through a store holding the context's
 * state in memory, each load awaited: every delta on the heads takes the one-round-trip path.
 */
async function applyAll(deltas: DagDelta[], held?: { store: StateStore; trees: HotTrees }): Promise<Buffer> {
  const contextId = randomBytes(32);
  const via = held?.store ?? store;
  await via.createContext(contextId);
  for (const d of deltas) {
    await via.addDelta({ ...d, contextId });
    await held?.trees.settled();
  }
  return contextId;
}

async function snapshot(contextId: Buffer) {
  const ctx = (await store.context(contextId))!;
  const entries = (await store.entries(contextId)).map((e) => ({
    key: e.key.toString(),
    value: e.value?.toString() ?? null,
    hlc: encodeHlc(e.hlc).toString('hex'),
    deleted: e.deleted,
  }));
  return { root: ctx.rootHash.toString('hex'), heads: ctx.heads.map((h) => h.toString('hex')).sort(), entries };
}

/** Every stored tree node, path → hash. */
async function storedTree(contextId: Buffer): Promise<Record<string, string>> {
  const nodes: Record<string, string> = {};
  for (let level = 0; level <= TREE_DEPTH; level++) {
    for (const n of await store.treeLevel(contextId, level)) nodes[n.path] = n.hash.toString('hex');
  }
  return nodes;
}

/** The tree computed from scratch over the live entries. */
async function scratchTree(contextId: Buffer): Promise<Record<string, string>> {
  const live = (await store.entries(contextId)).filter((e) => !e.deleted);
  const tree = computeTree(
    live.map((e) => ({ keyHash: keyHashOf(e.key), valueHash: sha256(e.value!), hlc: encodeHlc(e.hlc) })),
  );
  return Object.fromEntries([...tree].map(([path, hash]) => [path, hash.toString('hex')]));
}

/** The state a correct store must reach: per key, the greatest operation of the whole history. */
function expectedRoot(deltas: DagDelta[]): string {
  const winners = reduceActions(deltas.flatMap((d) => d.actions));
  const live = winners.filter((a): a is Extract<Action, { kind: 'set' }> => a.kind === 'set');
  return computeRootHash(
    live.map((a) => ({ keyHash: keyHashOf(a.key), valueHash: opValueHash(a), hlc: encodeHlc(a.at) })),
  ).toString('hex');
}

describe('state store (property-based, real Postgres)', () => {
  it('converges to the same entries, root and heads for any delivery order, with duplicates', async () => {
    const heldMetrics = new Registry();
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        async (steps, seed) => {
          // A coarse wall clock makes many operations share a millisecond: counters and node ids decide.
          let t = 1_700_000_000_000;
          const deltas = produce(steps, () => (t += seed % 2));
          if (deltas.length === 0) return;
          const shuffled = fc.sample(fc.shuffledSubarray(deltas, { minLength: deltas.length }), {
            seed,
            numRuns: 1,
          })[0]!;
          const withDuplicates = [...shuffled, ...shuffled.slice(0, Math.ceil(shuffled.length / 2))].reverse();
          const results = [];
          const trees = new HotTrees(
            () => db.sql,
            { contexts: 2, maxEntries: 100, cooldownMs: 0 },
            testLogger(),
            heldMetrics,
          );
          const held = { store: new StateStore(db.sql, undefined, undefined, trees), trees };
          // Each order through the reading path, and again on a state held in memory.
          for (const [order, via] of [deltas, shuffled, withDuplicates].flatMap((o) => [
            [o, undefined] as const,
            [o, held] as const,
          ])) {
            const contextId = await applyAll([...order], via);
            expect(await store.pendingCount(contextId)).toBe(0);
            const state = await snapshot(contextId);
            // The incrementally maintained root equals one recomputed from scratch.
            expect(state.root).toBe((await store.recomputeRootHash(contextId)).toString('hex'));
            // And so does every node of the maintained tree.
            expect(await storedTree(contextId)).toEqual(await scratchTree(contextId));
            results.push(state);
          }
          for (const r of results.slice(1)) expect(r).toEqual(results[0]);
          expect(results[0]!.root).toBe(expectedRoot(deltas));
        },
      ),
      { numRuns: 40 },
    );
    // The held runs did take the one-round-trip path (deltas on the heads are most of any order).
    const applies = await heldMetrics.getSingleMetric('hot_tree_applies_total')!.get();
    expect(applies.values.find((v) => v.labels.outcome === 'committed')?.value ?? 0).toBeGreaterThan(40);
  });

  it('keeps a delta whose parents are missing pending, and applies it (and its children) when they arrive', async () => {
    const author = new Author();
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    const d1 = author.write(contextId, [{ key: 'x', value: '1' }]);
    const d2 = author.write(contextId, [{ key: 'x', value: '2' }]);
    const d3 = author.write(contextId, [{ key: 'y', value: '3' }]);

    const r3 = await store.addDelta(d3);
    expect(r3).toMatchObject({ outcome: DeltaOutcome.Pending, missingParents: [d2.deltaId] });
    const r2 = await store.addDelta(d2);
    expect(r2).toMatchObject({ outcome: DeltaOutcome.Pending, missingParents: [d1.deltaId] });
    expect(await store.missingParents(contextId)).toEqual([d1.deltaId]);
    expect(await store.pendingCount(contextId)).toBe(2);

    const r1 = await store.addDelta(d1);
    expect(r1.outcome).toBe(DeltaOutcome.Applied);
    expect(r1.applied).toEqual([d1.deltaId, d2.deltaId, d3.deltaId]);
    expect(r1.heads).toEqual([d3.deltaId]);
    expect(await store.pendingCount(contextId)).toBe(0);
    expect((await store.entries(contextId)).map((e) => [e.key.toString(), e.value?.toString()])).toEqual([
      ['x', '2'],
      ['y', '3'],
    ]);
    expect((await store.addDelta(d2)).outcome).toBe(DeltaOutcome.Duplicate);
  });

  it('evicts the oldest pending delta beyond the cap', async () => {
    const small = new StateStore(db.sql, { maxPending: 2, maxMissing: 10 });
    const contextId = randomBytes(32);
    await small.createContext(contextId);
    const author = new Author();
    const [root, ...chain] = [0, 1, 2, 3].map((i) => author.write(contextId, [{ key: `k${i}`, value: 'v' }]));
    let evicted = 0;
    for (const d of chain) evicted += (await small.addDelta(d)).evicted;
    expect(evicted).toBe(1);
    expect(await small.pendingCount(contextId)).toBe(2);
    expect(root).toBeDefined();
  });

  it('expires pending deltas older than the age limit, and caps the missing-parent query', async () => {
    const capped = new StateStore(db.sql, { maxPending: 100, maxMissing: 2 });
    const contextId = randomBytes(32);
    await capped.createContext(contextId);
    // Three orphans, each waiting on a different parent this node never saw.
    const orphans = [0, 1, 2].map(() => {
      const author = new Author();
      author.heads = [randomBytes(32)];
      return author.write(contextId, [{ key: 'k', value: 'v' }]);
    });
    for (const d of orphans) expect((await capped.addDelta(d)).outcome).toBe(DeltaOutcome.Pending);
    expect(await capped.missingParents(contextId)).toHaveLength(2);
    await db.sql`update deltas set received_at = now() - interval '10 minutes'
                 where context_id = ${contextId} and delta_id = ${orphans[0]!.deltaId}`;
    const expired = await new GcRepo(db.sql).expirePendingBatch(Date.now(), 300_000, 1000);
    expect(expired.get(contextId.toString('hex'))).toBe(1);
    expect(await capped.pendingCount(contextId)).toBe(2);
    expect(await capped.delta(contextId, orphans[0]!.deltaId)).toBeUndefined();
  });

  it('answers the tree queries sync needs: a node with its children, a level, a bucket with its tombstones', async () => {
    const author = new Author();
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    await store.addDelta(
      author.write(contextId, [
        { key: 'keep', value: '1' },
        { key: 'gone', value: '2' },
      ]),
    );
    await store.addDelta(author.write(contextId, [{ key: 'gone' }]));
    const root = (await store.treeNode(contextId, ''))!;
    expect(root.hash).toEqual((await store.context(contextId))!.rootHash);
    expect(root.children).toHaveLength(1);
    const keepBucket = bucketOf(keyHashOf(Buffer.from('keep')));
    const leaves = await store.treeLevel(contextId, TREE_DEPTH);
    expect(leaves.map((l) => l.path)).toEqual([keepBucket]);
    const goneBucket = bucketOf(keyHashOf(Buffer.from('gone')));
    const inBucket = await store.bucketEntries(contextId, goneBucket);
    expect(inBucket.map((e) => [e.key.toString(), e.deleted, e.value])).toContainEqual(['gone', true, null]);
    // Walking down from the root by children reaches the leaf bucket.
    let node = root;
    let path = '';
    for (let level = 1; level <= TREE_DEPTH; level++) {
      path = keepBucket.slice(0, level);
      expect(node.children.map((c) => c.path)).toContain(path);
      node = (await store.treeNode(contextId, path))!;
    }
    expect(node.children).toEqual([]);
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { encodeHlc } from '@cnode/primitives';
import { testLogger } from '@cnode/testing';
import { DeltaOutcome, GcRepo, HotTrees, StateStore, type DagDelta } from '../../src/index.js';
import { Author, expectedTree, freshSchema, localWriter, storedTree } from './state-harness.js';

let db: Awaited<ReturnType<typeof freshSchema>>;

beforeAll(async () => {
  db = await freshSchema();
});

afterAll(async () => {
  await db.drop();
});

/** A store holding up to `contexts` whole states, and its metrics. */
function heldStore(limits: { contexts?: number; maxEntries?: number; cooldownMs?: number } = {}) {
  const registry = new Registry();
  const trees = new HotTrees(
    () => db.sql,
    { contexts: limits.contexts ?? 4, maxEntries: limits.maxEntries ?? 1000, cooldownMs: limits.cooldownMs ?? 0 },
    testLogger(),
    registry,
  );
  const store = new StateStore(db.sql, undefined, undefined, trees);
  const count = async (metric: string, label: Record<string, string>): Promise<number> => {
    const values = (await registry.getSingleMetric(metric)!.get()).values;
    const hit = values.find((v) => Object.entries(label).every(([k, x]) => v.labels[k] === x));
    return hit?.value ?? 0;
  };
  return {
    store,
    trees,
    applies: (outcome: string) => count('hot_tree_applies_total', { outcome }),
    loads: (outcome: string) => count('hot_tree_loads_total', { outcome }),
  };
}

/** Entries, root and heads of a context, comparable across contexts. */
async function stateOf(store: StateStore, contextId: Buffer) {
  const ctx = (await store.context(contextId))!;
  const entries = (await store.entries(contextId)).map((e) => [
    e.key.toString(),
    e.value?.toString() ?? null,
    encodeHlc(e.hlc).toString('hex'),
  ]);
  return { root: ctx.rootHash.toString('hex'), heads: ctx.heads.map((h) => h.toString('hex')).sort(), entries };
}

/** A context with one applied delta and its state held in memory. */
async function heldContext(held: ReturnType<typeof heldStore>, author: Author) {
  const contextId = randomBytes(32);
  await held.store.createContext(contextId);
  const first = author.write(contextId, [{ key: 'seed', value: '0' }]);
  expect((await held.store.addDeltas(contextId, [first])).outcomes).toEqual([DeltaOutcome.Applied]);
  await held.trees.settled();
  expect(held.trees.holds(contextId)).toBe(true);
  return { contextId, first };
}

describe('applies on a context state held in memory (real Postgres)', () => {
  it('batches on the heads commit in one round trip and store exactly what the reading path stores', async () => {
    const held = heldStore();
    const plain = new StateStore(db.sql);
    const author = new Author();
    const { contextId, first } = await heldContext(held, author);
    const twin = randomBytes(32);
    await plain.createContext(twin);

    const deltas: DagDelta[] = [first];
    // Single deltas, a batch of a chain, writes over each other, removes, and keys in new buckets.
    for (let i = 0; i < 30; i++) {
      const batch = Array.from({ length: 1 + (i % 4) }, (_, j) =>
        author.write(contextId, [
          { key: `k${(i * 7 + j) % 23}`, value: `v${i}.${j}` },
          ...(i % 5 === 0 ? [{ key: `k${i % 23}` }] : []),
        ]),
      );
      const result = await held.store.addDeltas(contextId, [...batch].reverse());
      expect(result.outcomes.every((o) => o === DeltaOutcome.Applied)).toBe(true);
      expect(result.applied).toEqual(batch.map((d) => d.deltaId));
      expect(result.heads).toEqual([batch.at(-1)!.deltaId]);
      expect(result.rootHash).toEqual(await held.store.recomputeRootHash(contextId));
      deltas.push(...batch);
    }
    expect(await held.applies('committed')).toBe(30);
    expect(await storedTree(db.sql, contextId)).toEqual(await expectedTree(db.sql, contextId));

    // The same deltas through the reading path reach the same entries, root and heads.
    for (const d of deltas) await plain.addDeltas(twin, [{ ...d, contextId: twin }]);
    expect(await stateOf(held.store, contextId)).toEqual(await stateOf(plain, twin));
  });

  it('a held state another writer changed is refused by the guard; the batch applies by reading', async () => {
    const held = heldStore({ cooldownMs: 60_000 });
    const other = new StateStore(db.sql);
    const author = new Author();
    const { contextId } = await heldContext(held, author);

    // Another process (no held state) applies the next delta.
    const elsewhere = author.write(contextId, [{ key: 'x', value: 'elsewhere' }]);
    await other.addDeltas(contextId, [elsewhere]);
    const next = author.write(contextId, [{ key: 'x', value: 'here' }]);
    const result = await held.store.addDeltas(contextId, [next]);

    // Its parent is not among the held heads: the batch read without trying the guard.
    expect(result.outcomes).toEqual([DeltaOutcome.Applied]);
    expect(result.rootHash).toEqual(await held.store.recomputeRootHash(contextId));
    expect(held.trees.holds(contextId)).toBe(false);

    // A sibling on the held heads' version would have passed the plan but not the guard.
    const held2 = heldStore({ cooldownMs: 60_000 });
    const author2 = new Author();
    const { contextId: contextId2, first: first2 } = await heldContext(held2, author2);
    const sibling = new Author();
    sibling.learn([first2]);
    await other.addDeltas(contextId2, [sibling.write(contextId2, [{ key: 'y', value: 'sibling' }])]);
    const mine = author2.write(contextId2, [{ key: 'y', value: 'mine' }]);
    const r2 = await held2.store.addDeltas(contextId2, [mine]);
    expect(r2.outcomes).toEqual([DeltaOutcome.Applied]);
    expect(r2.heads).toHaveLength(2);
    expect(await held2.applies('version_changed')).toBe(1);
    expect(r2.rootHash).toEqual(await held2.store.recomputeRootHash(contextId2));
    expect(await storedTree(db.sql, contextId2)).toEqual(await expectedTree(db.sql, contextId2));
    // Changed under us: not loaded again during the cooldown.
    await held2.trees.settled();
    expect(held2.trees.holds(contextId2)).toBe(false);
  });

  it('a batch repeating a stored delta, or arriving while deltas wait, is refused and applied by reading', async () => {
    const held = heldStore();
    const author = new Author();
    const { contextId, first } = await heldContext(held, author);

    // Deltas wait: one whose parent never came.
    const lost = author.write(contextId, [{ key: 'w', value: 'lost' }]);
    const orphan = author.write(contextId, [{ key: 'w', value: 'orphan' }]);
    expect((await held.store.addDeltas(contextId, [orphan])).outcomes).toEqual([DeltaOutcome.Pending]);
    await held.trees.settled();
    expect(held.trees.holds(contextId)).toBe(true);
    // A concurrent delta on the held heads: fits the plan, but the guard sees the wait.
    const concurrent = new Author();
    concurrent.learn([first]);
    const c1 = concurrent.write(contextId, [{ key: 'c', value: '1' }]);
    expect((await held.store.addDeltas(contextId, [c1])).outcomes).toEqual([DeltaOutcome.Applied]);
    expect(await held.applies('waits')).toBe(1);

    // The lost parent arrives: the reading path cascades the orphan.
    const cascade = await held.store.addDeltas(contextId, [lost]);
    expect(cascade.applied).toEqual([lost.deltaId, orphan.deltaId]);
    await held.trees.settled();

    // A stored-pending delta arriving again on the held heads: the guard passes, its insert does not.
    const tip = new Author();
    tip.learn([first, lost, orphan, c1]);
    const gap = tip.write(contextId, [{ key: 'g', value: '1' }]);
    const above = tip.write(contextId, [{ key: 'g', value: '2' }]);
    expect((await held.store.addDeltas(contextId, [above])).outcomes).toEqual([DeltaOutcome.Pending]);
    await db.sql`delete from delta_waits where context_id = ${contextId}`;
    await held.trees.settled();
    const again = await held.store.addDeltas(contextId, [gap]);
    expect(again.outcomes).toEqual([DeltaOutcome.Applied]);
    await held.trees.settled();
    // `above` is stored pending with its wait gone: repeated with its parent applied, it revives.
    const revived = await held.store.addDeltas(contextId, [above]);
    expect(revived.revived).toEqual([above.deltaId]);
    expect(await held.applies('duplicate')).toBe(1);
    expect(revived.rootHash).toEqual(await held.store.recomputeRootHash(contextId));
    expect(await storedTree(db.sql, contextId)).toEqual(await expectedTree(db.sql, contextId));
    expect(await held.store.pendingCount(contextId)).toBe(0);
  });

  it('tombstone deletion changes the context version, so a held state does not outlive it', async () => {
    const held = heldStore({ cooldownMs: 60_000 });
    const author = new Author();
    const { contextId } = await heldContext(held, author);
    await held.store.addDeltas(contextId, [author.write(contextId, [{ key: 'gone' }])]);
    expect(await held.applies('committed')).toBe(1);

    const gc = new GcRepo(db.sql);
    expect((await gc.deleteTombstoneBatch(contextId, Date.now() + 60_000, 10)).deleted).toBe(1);
    await held.store.addDeltas(contextId, [author.write(contextId, [{ key: 'after', value: '1' }])]);
    expect(await held.applies('version_changed')).toBe(1);
    expect(await held.applies('committed')).toBe(1);
  });

  it('group commits of local writes on a held state chain, seal the roots they store, and follow foreign writes', async () => {
    const held = heldStore({ cooldownMs: 60_000 });
    const { me, set, seal } = localWriter();
    const author = new Author();
    const { contextId, first } = await heldContext(held, author);

    let parent = first.deltaId;
    for (let i = 0; i < 10; i++) {
      const writes = Array.from({ length: 1 + (i % 3) }, (_, j) => ({
        author: me.publicKey,
        actions: [set(`l${(i + j) % 4}`, `${i}.${j}`)],
        events: [],
      }));
      const results = await held.store.commitLocalBatch(contextId, writes, seal(contextId));
      for (const r of results) {
        expect(r.delta.parents).toEqual([parent]);
        parent = r.delta.deltaId;
      }
      // The stand-in seal carries the root it was given: the stored root after the batch.
      expect(results.at(-1)!.delta.ciphertext).toEqual(await held.store.recomputeRootHash(contextId));
    }
    expect(await held.applies('committed')).toBe(10);
    expect((await held.store.context(contextId))!.heads).toEqual([parent]);
    expect(await storedTree(db.sql, contextId)).toEqual(await expectedTree(db.sql, contextId));

    // A delta applied by another process: the next group commit is refused by the guard and reads.
    const remote = new Author();
    remote.learn([first]);
    await new StateStore(db.sql).addDeltas(contextId, [remote.write(contextId, [{ key: 'r', value: '1' }])]);
    const [after] = await held.store.commitLocalBatch(
      contextId,
      [{ author: me.publicKey, actions: [set('l0', 'after')], events: [] }],
      seal(contextId),
    );
    expect(await held.applies('version_changed')).toBe(1);
    expect(after!.delta.parents).toHaveLength(2);
    expect(after!.delta.ciphertext).toEqual(await held.store.recomputeRootHash(contextId));
    expect(await storedTree(db.sql, contextId)).toEqual(await expectedTree(db.sql, contextId));
  });

  it('a context larger than the bound is never held', async () => {
    const held = heldStore({ maxEntries: 3 });
    const author = new Author();
    const contextId = randomBytes(32);
    await held.store.createContext(contextId);
    await held.store.addDeltas(contextId, [
      author.write(
        contextId,
        [1, 2, 3, 4].map((i) => ({ key: `big${i}`, value: `${i}` })),
      ),
    ]);
    await held.trees.settled();
    expect(held.trees.holds(contextId)).toBe(false);
    expect(await held.loads('too_large')).toBe(1);
    expect(await held.loads('loaded')).toBe(0);
  });

  it('a held context that grows past the bound is dropped', async () => {
    const held = heldStore({ maxEntries: 3, cooldownMs: 60_000 });
    const author = new Author();
    const { contextId } = await heldContext(held, author);
    await held.store.addDeltas(contextId, [author.write(contextId, [{ key: 'g1', value: '1' }])]);
    expect(held.trees.holds(contextId)).toBe(true);
    // Three held entries and one more: committed on the held state, which then goes.
    await held.store.addDeltas(contextId, [
      author.write(contextId, [
        { key: 'g2', value: '2' },
        { key: 'g3', value: '3' },
      ]),
    ]);
    expect(await held.applies('committed')).toBe(2);
    expect(held.trees.holds(contextId)).toBe(false);
    await held.store.addDeltas(contextId, [author.write(contextId, [{ key: 'g4', value: '4' }])]);
    await held.trees.settled();
    expect(held.trees.holds(contextId)).toBe(false);
    expect(await held.store.recomputeRootHash(contextId)).toEqual((await held.store.context(contextId))!.rootHash);
  });
});

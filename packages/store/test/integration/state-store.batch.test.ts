import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { admin } from '@cnode/proto';
import { HlcClock, generateIdentity, encodeHlc, toBase58, type Action } from '@cnode/primitives';
import { DeltaOutcome, StateStore, type DagDelta } from '../../src/index.js';
import { Author, expectedTree, freshSchema, storedTree } from './state-harness.js';

let db: Awaited<ReturnType<typeof freshSchema>>;
let store: StateStore;

beforeAll(async () => {
  db = await freshSchema();
  store = new StateStore(db.sql);
});

afterAll(async () => {
  await db.drop();
});

/** Fisher–Yates with a fixed seed: the same shuffle every run. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function mutationEvents(contextId: Buffer): Promise<{ deltaId: string; heads: string[] }[]> {
  const rows = await db.sql<{ payload: Buffer }[]>`
    select payload from node_event_outbox where context_id = ${contextId} order by seq`;
  return rows.flatMap((r) => {
    const e = admin.NodeEvent.decode(r.payload).event;
    return e?.$case === 'stateMutation' ? [{ deltaId: e.stateMutation.deltaId, heads: e.stateMutation.heads }] : [];
  });
}

describe('batched delta apply (real Postgres)', () => {
  it('a shuffled chain applies in causal order in one batch: nothing pending, events in chain order', async () => {
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    const author = new Author();
    const chain: DagDelta[] = [];
    for (let i = 0; i < 40; i++) chain.push(author.write(contextId, [{ key: `k${i % 7}`, value: `v${i}` }]));

    const result = await store.addDeltas(contextId, shuffled(chain, 7));
    expect(result.outcomes.every((o) => o === DeltaOutcome.Applied)).toBe(true);
    expect(result.applied.map((id) => id.toString('hex'))).toEqual(chain.map((d) => d.deltaId.toString('hex')));
    expect(result.missingParents).toEqual([]);
    expect(await store.pendingCount(contextId)).toBe(0);
    expect(result.heads).toEqual([chain.at(-1)!.deltaId]);
    expect(result.rootHash).toEqual(await store.recomputeRootHash(contextId));
    expect(await storedTree(db.sql, contextId)).toEqual(await expectedTree(db.sql, contextId));
    const events = await mutationEvents(contextId);
    expect(events.map((e) => e.deltaId)).toEqual(chain.map((d) => toBase58(d.deltaId)));
    // Each event names the heads after its delta: the chain's tip at that point.
    expect(events.map((e) => e.heads)).toEqual(chain.map((d) => [toBase58(d.deltaId)]));
  });

  it('a batch with a gap keeps the part above the gap pending and the missing parent named; the parent cascades it', async () => {
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    const author = new Author();
    const chain = Array.from({ length: 10 }, (_, i) => author.write(contextId, [{ key: `g${i}`, value: `${i}` }]));
    const gap = chain[4]!;
    const batch = chain.filter((d) => d !== gap);

    const first = await store.addDeltas(contextId, shuffled(batch, 3));
    expect(first.outcomes.filter((o) => o === DeltaOutcome.Applied)).toHaveLength(4);
    expect(first.outcomes.filter((o) => o === DeltaOutcome.Pending)).toHaveLength(5);
    expect(first.missingParents).toEqual([gap.deltaId]);
    expect(await store.missingParents(contextId)).toEqual([gap.deltaId]);

    const second = await store.addDeltas(contextId, [gap, chain[0]!]);
    expect(second.outcomes).toEqual([DeltaOutcome.Applied, DeltaOutcome.Duplicate]);
    expect(second.applied.map((id) => id.toString('hex'))).toEqual(
      chain.slice(4).map((d) => d.deltaId.toString('hex')),
    );
    expect(await store.pendingCount(contextId)).toBe(0);
    expect(second.rootHash).toEqual(await store.recomputeRootHash(contextId));
    expect(await storedTree(db.sql, contextId)).toEqual(await expectedTree(db.sql, contextId));
  });

  it('a pending delta whose wait was missed is applied when it arrives again, with what waits on it', async () => {
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    const author = new Author();
    const [p, d, c] = [0, 1, 2].map((i) => author.write(contextId, [{ key: `r${i}`, value: `${i}` }]));
    expect((await store.addDeltas(contextId, [d!])).outcomes).toEqual([DeltaOutcome.Pending]);
    expect((await store.addDeltas(contextId, [c!])).outcomes).toEqual([DeltaOutcome.Pending]);
    // The stuck state: the parent applies without finding the wait of the delta built on it.
    await db.sql`delete from delta_waits where context_id = ${contextId} and parent_id = ${p!.deltaId}`;
    const parent = await store.addDeltas(contextId, [p!]);
    expect(parent.applied).toEqual([p!.deltaId]);
    expect(await store.pendingCount(contextId)).toBe(2);
    expect(await store.missingParents(contextId)).toEqual([]);

    // Arriving again (a peer's catch-up answer), it applies, and so does the delta waiting on it.
    const again = await store.addDeltas(contextId, [d!]);
    expect(again.outcomes).toEqual([DeltaOutcome.Applied]);
    expect(again.revived).toEqual([d!.deltaId]);
    expect(again.applied).toEqual([d!.deltaId, c!.deltaId]);
    expect(await store.pendingCount(contextId)).toBe(0);
    expect(again.heads).toEqual([c!.deltaId]);
    expect(again.rootHash).toEqual(await store.recomputeRootHash(contextId));
    expect(await storedTree(db.sql, contextId)).toEqual(await expectedTree(db.sql, contextId));
    // Still pending with a parent missing (never added here): a duplicate, nothing revived.
    author.write(contextId, [{ key: 'r9', value: '9' }]);
    const orphan = author.write(contextId, [{ key: 'r10', value: '10' }]);
    await store.addDeltas(contextId, [orphan]);
    const repeat = await store.addDeltas(contextId, [orphan]);
    expect(repeat.outcomes).toEqual([DeltaOutcome.Duplicate]);
    expect(repeat.revived).toEqual([]);
  });

  it('the same delta twice in one batch is stored once; concurrent branches merge last-writer-wins', async () => {
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    const [x, y] = [new Author(), new Author()];
    const a1 = x.write(contextId, [
      { key: 'shared', value: 'x1' },
      { key: 'xa', value: '1' },
    ]);
    const b1 = y.write(contextId, [
      { key: 'shared', value: 'y1' },
      { key: 'yb', value: '1' },
    ]);
    const b2 = y.write(contextId, [{ key: 'xa' }]);
    const result = await store.addDeltas(contextId, [b2, a1, b1, a1]);
    expect(result.outcomes).toEqual([
      DeltaOutcome.Applied,
      DeltaOutcome.Applied,
      DeltaOutcome.Applied,
      DeltaOutcome.Duplicate,
    ]);
    // The later write of `shared` wins, whichever order the batch named them in.
    const later = encodeHlc(a1.actions[0]!.at).compare(encodeHlc(b1.actions[0]!.at)) > 0 ? 'x1' : 'y1';
    expect((await store.get(contextId, Buffer.from('shared')))?.toString()).toBe(later);
    expect(await store.get(contextId, Buffer.from('xa'))).toBeUndefined();
    expect(result.heads.map((h) => h.toString('hex')).sort()).toEqual(
      [a1.deltaId, b2.deltaId].map((h) => h.toString('hex')).sort(),
    );
    expect(await storedTree(db.sql, contextId)).toEqual(await expectedTree(db.sql, contextId));
  });

  it('a group commit chains its writes and seals each with the root of the state after it', async () => {
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    const me = generateIdentity();
    const clock = new HlcClock(randomBytes(16));
    const writes = Array.from({ length: 12 }, (_, i) => {
      const actions: Action[] = [
        { kind: 'set', key: Buffer.from(`w${i % 5}`), value: Buffer.from(`${i}`), at: clock.now() },
      ];
      if (i % 4 === 3) actions.push({ kind: 'remove', key: Buffer.from(`w${(i + 1) % 5}`), at: clock.now() });
      return { author: me.publicKey, actions, events: [] };
    });
    const seen: { parents: Buffer[]; rootHash: Buffer; index: number }[] = [];
    const results = await store.commitLocalBatch(contextId, writes, (draft, index) => {
      seen.push({ parents: draft.parents, rootHash: draft.rootHash, index });
      return {
        contextId,
        deltaId: draft.deltaId,
        parents: draft.parents,
        hlc: clock.now(),
        author: me.publicKey,
        governanceHeads: [],
        keyId: randomBytes(32),
        nonce: randomBytes(12),
        ciphertext: randomBytes(16),
        signature: randomBytes(64),
      };
    });
    expect(seen.map((s) => s.index)).toEqual(writes.map((_, i) => i));
    // A chain: each delta's only parent is the one before it.
    for (let i = 1; i < results.length; i++) expect(results[i]!.delta.parents).toEqual([results[i - 1]!.delta.deltaId]);
    expect((await store.context(contextId))!.heads).toEqual([results.at(-1)!.delta.deltaId]);

    // Replaying the same writes one by one into a fresh context gives the same root after each.
    const replay = randomBytes(32);
    await store.createContext(replay);
    for (const [i, write] of writes.entries()) {
      const r = await store.commitLocal(replay, write.author, write.actions, [], (draft) => ({
        ...results[i]!.delta,
        contextId: replay,
        deltaId: draft.deltaId,
        parents: draft.parents,
      }));
      expect(r.rootHash).toEqual(results[i]!.rootHash);
      expect(seen[i]!.rootHash).toEqual(await store.recomputeRootHash(replay));
    }
    expect(results.at(-1)!.rootHash).toEqual(await store.recomputeRootHash(contextId));
    expect(await storedTree(db.sql, contextId)).toEqual(await expectedTree(db.sql, contextId));
  });
});

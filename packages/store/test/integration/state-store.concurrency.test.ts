import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import postgres from 'postgres';
import { TEST_INFRA, waitFor } from '@cnode/testing';
import { DeltaOutcome, StateStore } from '../../src/index.js';
import { Author, freshSchema } from './state-harness.js';

let db: Awaited<ReturnType<typeof freshSchema>>;

beforeAll(async () => {
  db = await freshSchema({ applicationName: 'cnode-crash-test', max: 8 });
});

afterAll(async () => {
  await db.drop();
});

describe('state store under concurrency and crashes (real Postgres)', () => {
  it('two concurrent transactions applying different deltas to one context both succeed, consistently', async () => {
    // Two replicas: separate pools, as two state-delta processes would have.
    const other = postgres(TEST_INFRA.databaseUrl, {
      max: 2,
      onnotice: () => undefined,
      connection: { search_path: `"${db.schema}",public` },
    });
    try {
      const [a, b] = [new StateStore(db.sql), new StateStore(other)];
      const contextId = randomBytes(32);
      await a.createContext(contextId);
      const writers = [new Author(), new Author()];
      const many = (w: Author, tag: string) =>
        Array.from({ length: 10 }, (_, i) =>
          w.write(
            contextId,
            Array.from({ length: 20 }, (_, k) => ({ key: `${tag}${k}`, value: `${i}` })),
          ),
        );
      const [fromA, fromB] = [many(writers[0]!, 'a'), many(writers[1]!, 'b')];
      // Each replica applies its own writer's chain in order; the two replicas race each other.
      const replay = async (store: StateStore, deltas: typeof fromA) => {
        const outcomes = [];
        for (const d of deltas) outcomes.push((await store.addDelta(d)).outcome);
        return outcomes;
      };
      const results = await Promise.all([replay(a, fromA), replay(b, fromB)]);
      expect(results.flat().every((o) => o === DeltaOutcome.Applied)).toBe(true);
      const ctx = (await a.context(contextId))!;
      expect(ctx.heads.map((h) => h.toString('hex')).sort()).toEqual(
        [fromA.at(-1)!.deltaId, fromB.at(-1)!.deltaId].map((h) => h.toString('hex')).sort(),
      );
      expect(ctx.rootHash).toEqual(await a.recomputeRootHash(contextId));
      expect((await a.entries(contextId)).length).toBe(40);
    } finally {
      await other.end();
    }
  });

  it('a batch that waited for the row lock sees what the holder committed: its parent unblocks a child stored meanwhile', async () => {
    const other = postgres(TEST_INFRA.databaseUrl, {
      max: 2,
      onnotice: () => undefined,
      connection: { search_path: `"${db.schema}",public`, application_name: 'cnode-lock-wait-test' },
    });
    const blocker = await other.reserve();
    try {
      const store = new StateStore(db.sql);
      const contextId = randomBytes(32);
      await store.createContext(contextId);
      const author = new Author();
      const parent = author.write(contextId, [{ key: 'p', value: '1' }]);
      const child = author.write(contextId, [{ key: 'c', value: '2' }]);
      await blocker`begin`;
      await blocker`select 1 from contexts where id = ${contextId} for update`;
      const waiters = async (n: number) => {
        await waitFor(
          async () => {
            await blocker`select pg_stat_clear_snapshot()`;
            const [row] = await blocker<{ n: number }[]>`
              select count(*)::int as n from pg_stat_activity
              where application_name = 'cnode-crash-test' and wait_event_type = 'Lock' and state = 'active'`;
            return row!.n >= n || undefined;
          },
          { message: `${n} transactions to wait for the context row` },
        );
      };
      // The child queues for the lock first and will be stored pending; the parent's batch queues
      // behind it, so its statements started before the child's transaction committed.
      const childAdded = store.addDeltas(contextId, [child]);
      await waiters(1);
      const parentAdded = store.addDeltas(contextId, [parent]);
      await waiters(2);
      await blocker`commit`;
      expect((await childAdded).outcomes).toEqual([DeltaOutcome.Pending]);
      const result = await parentAdded;
      expect(result.outcomes).toEqual([DeltaOutcome.Applied]);
      expect(result.applied.map((id) => id.toString('hex'))).toEqual(
        [parent.deltaId, child.deltaId].map((id) => id.toString('hex')),
      );
      expect(await store.pendingCount(contextId)).toBe(0);
      expect((await store.context(contextId))!.heads).toEqual([child.deltaId]);
    } finally {
      blocker.release();
      await other.end();
    }
  });

  it('a delta application killed mid-transaction leaves no partial state, and applies afterwards', async () => {
    const store = new StateStore(db.sql);
    const contextId = randomBytes(32);
    await store.createContext(contextId);
    const delta = new Author().write(
      contextId,
      Array.from({ length: 50 }, (_, k) => ({ key: `k${k}`, value: 'v' })),
    );

    // Hold a lock the transaction needs only after it wrote entries and tree nodes, then kill it there.
    const blocker = postgres(TEST_INFRA.databaseUrl, {
      max: 1,
      onnotice: () => undefined,
      connection: { search_path: `"${db.schema}",public` },
    });
    const conn = await blocker.reserve();
    try {
      await conn`begin`;
      await conn`lock table deltas in exclusive mode`;
      // Its failure may land before the kill's own answer: take it as soon as it comes.
      const applying = store.addDelta(delta).then(
        () => undefined,
        (err: unknown) => err,
      );
      const [victim] = await waitFor(
        async () => {
          // Activity statistics are a snapshot per transaction: refresh it on every poll.
          await conn`select pg_stat_clear_snapshot()`;
          const rows = await conn<{ pid: number }[]>`
            select pid from pg_stat_activity
            where application_name = 'cnode-crash-test' and wait_event_type = 'Lock' and state = 'active'`;
          return rows.length ? rows : undefined;
        },
        { message: 'the apply transaction to block on the deltas lock' },
      );
      // It blocks on its first write; nothing it did is visible here.
      const [partial] = await conn<
        { n: string }[]
      >`select count(*) as n from state_entries where context_id = ${contextId}`;
      expect(Number(partial!.n)).toBe(0);
      await conn`select pg_terminate_backend(${victim!.pid})`;
      // Killed: it failed (the connection closed, or the server said it terminated it).
      expect(await applying).toMatchObject({ message: expect.stringMatching(/\S/) });
      await conn`rollback`;
    } finally {
      conn.release();
      await blocker.end();
    }

    const ctx = (await store.context(contextId))!;
    expect(ctx.rootHash.every((b) => b === 0)).toBe(true);
    expect(await store.entries(contextId)).toEqual([]);
    expect(await store.treeLevel(contextId, 0)).toEqual([]);
    expect(await store.delta(contextId, delta.deltaId)).toBeUndefined();

    // The pool may hand out the killed connection once more before its socket reports the close.
    const retried = await waitFor(() => store.addDelta(delta).catch(() => undefined), {
      message: 'the retried delta to apply',
    });
    expect(retried.outcome).toBe(DeltaOutcome.Applied);
    expect(retried.rootHash).toEqual(await store.recomputeRootHash(contextId));
  });
});

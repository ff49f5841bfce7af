import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freshSchema } from '@cnode/testing';
import { PipelinedTx } from '../../src/index.js';

let db: Awaited<ReturnType<typeof freshSchema>>;

beforeAll(async () => {
  // One connection: a transaction that failed to give its connection back would hang the next test.
  db = await freshSchema({ max: 1 });
  await db.sql`create table probe (id int primary key, note text)`;
});

afterAll(async () => {
  await db.drop();
});

const notes = async (): Promise<string[]> =>
  (await db.sql<{ note: string }[]>`select note from probe order by id`).map((r) => r.note);

describe('PipelinedTx (real Postgres)', () => {
  it('commits pipelined writes together, after reads sent with them', async () => {
    const seen = await PipelinedTx.run(db.sql, async (tx) => {
      const before = tx.send(tx.sql<{ n: number }[]>`select count(*)::int as n from probe`);
      const writes = [1, 2, 3].map((id) => tx.send(tx.sql`insert into probe values (${id}, ${`w${id}`})`));
      // Each statement sees what the ones sent before it did: they run in order.
      const after = tx.send(tx.sql<{ n: number }[]>`select count(*)::int as n from probe`);
      await tx.commit(writes);
      return [(await before)[0]!.n, (await after)[0]!.n];
    });
    expect(seen).toEqual([0, 3]);
    expect(await notes()).toEqual(['w1', 'w2', 'w3']);
  });

  it('a failed write fails the commit and nothing of the transaction stays', async () => {
    const attempt = PipelinedTx.run(db.sql, async (tx) => {
      await tx.commit([
        tx.send(tx.sql`insert into probe values (10, 'kept?')`),
        tx.send(tx.sql`insert into probe values (1, 'duplicate key')`),
        tx.send(tx.sql`insert into probe values (11, 'after the failure')`),
      ]);
    });
    await expect(attempt).rejects.toThrow(/duplicate key/);
    expect(await notes()).toEqual(['w1', 'w2', 'w3']);
  });

  it('a body that throws before committing rolls back and gives the connection back', async () => {
    const attempt = PipelinedTx.run(db.sql, async (tx) => {
      await tx.send(tx.sql`insert into probe values (20, 'rolled back')`);
      throw new Error('changed my mind');
    });
    await expect(attempt).rejects.toThrow('changed my mind');
    // A body that never commits is refused, and rolled back too.
    await expect(
      PipelinedTx.run(db.sql, async (tx) => {
        void tx.send(tx.sql`insert into probe values (21, 'forgotten')`);
        return Promise.resolve();
      }),
    ).rejects.toThrow(/without committing/);
    expect(await notes()).toEqual(['w1', 'w2', 'w3']);
  });
});

import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import postgres from 'postgres';
import { TEST_INFRA } from '@cnode/testing';

describe('postgres.js as patched (real Postgres)', () => {
  it('a transaction whose BEGIN fills the pipeline still reserves its connection (upstream #1189)', async () => {
    // max_pipeline 0 makes every BEGIN hit the pipeline boundary: unpatched, each begin() fails
    // with UNSAFE_TRANSACTION and leaves the transaction open on a pooled connection.
    const app = `cnode-pipeline-${process.pid}-${Date.now()}`;
    // max_pipeline is a real connection option that the type declarations leave out.
    const options = { max: 4, max_pipeline: 0, onnotice: () => undefined, connection: { application_name: app } };
    const sql = postgres(TEST_INFRA.databaseUrl, options);
    try {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          sql.begin(async (tx) => (await tx<{ n: number }[]>`select ${i}::int as n`)[0]!.n),
        ),
      );
      expect(results).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      // No transaction was left open on a pooled connection.
      const [row] = await sql<{ n: string }[]>`
        select count(*) as n from pg_stat_activity where application_name = ${app} and state like 'idle in transaction%'`;
      expect(Number(row!.n)).toBe(0);
    } finally {
      await sql.end({ timeout: 2 });
    }
    // Unpatched, the transactions never settle: the bound turns that hang into a failure.
  }, 10_000);

  describe('a reservation or transaction whose connection closed', () => {
    // One pooled connection: once the server ends its session, the pool connects that same
    // connection object again for the query waiting on it, and (unpatched) whatever the holder of
    // the reservation sends next runs on the new session, outside its transaction, committed alone.
    const app = `cnode-lost-${process.pid}-${Date.now()}`;
    const table = `cnode_lost_probe_${process.pid}`;
    /** Runs `fn` on a connection of its own, outside the pool under test. */
    async function asAdmin<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
      const sql = postgres(TEST_INFRA.databaseUrl, { max: 1, onnotice: () => undefined });
      try {
        return await fn(sql);
      } finally {
        await sql.end({ timeout: 2 });
      }
    }
    const pool = () =>
      postgres(TEST_INFRA.databaseUrl, { max: 1, onnotice: () => undefined, connection: { application_name: app } });

    /** Ends the test pool's session from outside, as a Postgres restart does. */
    async function endSession(): Promise<void> {
      await asAdmin(
        (sql) => sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${app}`,
      );
    }

    async function rows(): Promise<number[]> {
      return asAdmin(async (sql) =>
        (await sql.unsafe<{ n: number }[]>(`select n from ${table} order by n`)).map((r) => r.n),
      );
    }

    beforeEach(() => asAdmin((sql) => sql.unsafe(`drop table if exists ${table}; create table ${table} (n int)`)));

    afterAll(() => asAdmin((sql) => sql.unsafe(`drop table if exists ${table}`)));

    it('a reserved connection refuses statements after it closed, even once the pool reconnected it', async () => {
      const sql = pool();
      try {
        const reserved = await sql.reserve();
        await reserved`begin`;
        await reserved.unsafe(`insert into ${table} values (1)`);
        await endSession();
        // Served by the same connection object, connected again.
        expect((await sql<{ one: number }[]>`select 1 as one`)[0]!.one).toBe(1);
        await expect(reserved.unsafe(`insert into ${table} values (2)`)).rejects.toMatchObject({
          code: 'CONNECTION_CLOSED',
        });
        await expect(reserved`commit`).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
        reserved.release();
        expect(await rows()).toEqual([]);
        // The pool goes on with the connection.
        expect((await sql<{ one: number }[]>`select 1 as one`)[0]!.one).toBe(1);
      } finally {
        await sql.end({ timeout: 2 });
      }
    }, 15_000);

    it('a transaction whose connection closed runs none of its later statements', async () => {
      const sql = pool();
      try {
        let later: { insert: Promise<unknown> } | undefined;
        const tx = sql.begin(async (t) => {
          await t.unsafe(`insert into ${table} values (1)`);
          await endSession();
          await sql`select 1`;
          later = { insert: t.unsafe(`insert into ${table} values (2)`) };
          await later.insert;
        });
        await expect(tx).rejects.toBeDefined();
        // The body goes on after the transaction failed: its next statement must not run.
        const { insert } = await waitFor(() => later);
        await expect(insert).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
        expect(await rows()).toEqual([]);
      } finally {
        await sql.end({ timeout: 2 });
      }
    }, 15_000);
  });
});

/** The value `get` returns once it returns one (polled; at most 5 s). */
async function waitFor<T>(get: () => T | undefined): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = get();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('nothing after 5 s');
}

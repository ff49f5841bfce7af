import { describe, expect, it } from '@jest/globals';
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
});

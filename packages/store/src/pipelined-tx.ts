import type postgres from 'postgres';
import type { Sql } from './postgres.js';

/** A statement of a pipelined transaction: sent at once, awaited when its answer is needed. */
export type Sent<T extends readonly object[] = postgres.Row[]> = postgres.PendingQuery<T>;

const ignore = (): void => undefined;

/**
 * A transaction on one reserved connection whose statements are pipelined: each is sent the moment
 * it is issued and awaited only where its answer is needed, so BEGIN travels with the first
 * statements and COMMIT with the last writes. The server runs them in the order they were sent (a
 * statement behind a row lock waits for it, and those behind it see what it saw and more).
 *
 * After a failed statement the server refuses the rest of the transaction and answers COMMIT with
 * ROLLBACK, so `commit` checks every write it was given and the answer to COMMIT itself. A
 * connection that broke mid-transaction stays out of the pool when released (a postgres.js patch
 * in scripts/patch-dependencies.mjs), and the pool reconnects it on demand.
 */
export class PipelinedTx {
  private ended = false;

  private constructor(readonly sql: postgres.ReservedSql) {}

  /** Runs `body` in a transaction; it must end with `commit`, or everything is rolled back. */
  static async run<R>(pool: Sql, body: (tx: PipelinedTx) => Promise<R>): Promise<R> {
    const reserved = await pool.reserve();
    const tx = new PipelinedTx(reserved);
    try {
      void tx.send(reserved`begin`);
      const result = await body(tx);
      if (!tx.ended) throw new Error('pipelined transaction: the body returned without committing');
      return result;
    } catch (err) {
      if (!tx.ended) await reserved`rollback`.catch(ignore);
      throw err;
    } finally {
      reserved.release();
    }
  }

  /**
   * Sends a statement now and returns it to await later. A failure is kept for whoever awaits it (a
   * statement nobody awaits still fails the transaction: the server refuses what follows it).
   */
  send<T extends readonly object[]>(query: postgres.PendingQuery<T>): Sent<T> {
    void query.execute();
    query.catch(ignore);
    return query;
  }

  /** Sends COMMIT behind `writes` and waits for all of them: they commit together or not at all. */
  async commit(writes: readonly Promise<unknown>[]): Promise<void> {
    const commit = this.send(this.sql`commit`);
    this.ended = true;
    const settled = await Promise.allSettled([...writes, commit]);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const { command } = await commit;
    if (command !== 'COMMIT') throw new Error(`pipelined transaction ended in ${command}, not COMMIT`);
  }
}

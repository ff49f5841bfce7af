import type postgres from 'postgres';
import type { Sql } from './postgres.js';

/** A statement of a pipelined transaction: sent at once, awaited when its answer is needed. */
export type Sent<T extends readonly object[] = postgres.Row[]> = postgres.PendingQuery<T>;

const ignore = (): void => undefined;

/**
 * A transaction whose statements are pipelined: each is sent the moment it is issued and awaited
 * only where its answer is needed, so the reads a step needs share one round trip and every write
 * shares the last one. The server runs them in the order they were sent (a statement behind a row
 * lock waits for it, and those behind it see what it saw and more).
 *
 * It runs inside `sql.begin` (BEGIN and COMMIT are round trips of their own): postgres.js then owns
 * the connection's fate when it breaks mid-transaction. (A reserved connection handed back after
 * its socket closed would return a dead connection to the pool.)
 */
export class PipelinedTx {
  private ended = false;

  private constructor(readonly sql: postgres.TransactionSql) {}

  /** Runs `body` in a transaction; it must end with `commit`, or everything is rolled back. */
  static async run<R>(pool: Sql, body: (tx: PipelinedTx) => Promise<R>): Promise<R> {
    const result = await pool.begin(async (sql) => {
      const tx = new PipelinedTx(sql);
      const out = await body(tx);
      if (!tx.ended) throw new Error('pipelined transaction: the body returned without committing');
      return [out] as const;
    });
    return result[0];
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

  /**
   * Waits for the transaction's writes; any failure fails the transaction (it rolls back, and the
   * error is the first write's). COMMIT follows when the body returns.
   */
  async commit(writes: readonly Promise<unknown>[]): Promise<void> {
    this.ended = true;
    const settled = await Promise.allSettled(writes);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

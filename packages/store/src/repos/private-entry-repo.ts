import type postgres from 'postgres';
import { BYTEA_ARRAY, type Sql } from '../postgres.js';

/** One private write of a call: a value, or null for a removal. */
export interface PrivateWrite {
  key: Buffer;
  value: Buffer | null;
}

/**
 * Applications' private storage (`private_entries`): per context, node-local, never replicated.
 * Writes go in the transaction of the call's delta (`LocalWrite.privateWrites`), or through `apply`.
 */
export class PrivateEntryRepo {
  constructor(private readonly sql: Sql) {}

  async get(contextId: Buffer, key: Buffer): Promise<Buffer | undefined> {
    const [row] = await this.sql<{ value: Buffer }[]>`
      select value from private_entries where context_id = ${contextId} and key = ${key}`;
    return row?.value;
  }

  /** A call's private writes on their own (the call made no delta). */
  async apply(contextId: Buffer, writes: readonly PrivateWrite[]): Promise<void> {
    if (writes.length === 0) return;
    await this.sql.begin((tx) => privateWriteStatements(tx, contextId, writes));
  }
}

/** The statements that apply private writes (the last write of a key wins), for any transaction. */
export function privateWriteStatements(
  tx: Sql | postgres.TransactionSql | postgres.ReservedSql,
  contextId: Buffer,
  writes: readonly PrivateWrite[],
): postgres.PendingQuery<postgres.Row[]>[] {
  const last = new Map<string, PrivateWrite>();
  for (const w of writes) last.set(w.key.toString('hex'), w);
  const sets = [...last.values()].filter((w) => w.value !== null);
  const removals = [...last.values()].filter((w) => w.value === null);
  const statements: postgres.PendingQuery<postgres.Row[]>[] = [];
  if (sets.length > 0) {
    statements.push(tx`
      insert into private_entries (context_id, key, value)
      select ${contextId}, k, v from unnest(
        ${tx.array(
          sets.map((w) => w.key),
          BYTEA_ARRAY,
        )}::bytea[],
        ${tx.array(
          sets.map((w) => w.value!),
          BYTEA_ARRAY,
        )}::bytea[]) as t(k, v)
      on conflict (context_id, key) do update set value = excluded.value, updated_at = now()`);
  }
  if (removals.length > 0) {
    statements.push(tx`
      delete from private_entries where context_id = ${contextId} and key = any (${tx.array(
        removals.map((w) => w.key),
        BYTEA_ARRAY,
      )}::bytea[])`);
  }
  return statements;
}

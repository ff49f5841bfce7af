import type postgres from 'postgres';
import { BYTEA_ARRAY, INT2_ARRAY, INT8_ARRAY, TEXT_ARRAY } from '../postgres.js';

/** One key's operation as `state_entries` stores it. */
export interface EntryRowUpsert {
  key: Buffer;
  keyHash: Buffer;
  bucket: string;
  /** Null for a tombstone. */
  value: Buffer | null;
  valueHash: Buffer;
  /** Encoded HLC of the operation. */
  hlc: Buffer;
  /** 0 for a write, 1 for a tombstone. */
  rank: number;
  author: Buffer | null;
  /** Wall-clock ms of a removal (when the tombstone may be collected), else null. */
  deletedAtMs: string | null;
}

/**
 * The statement that writes entries of one context, one row per key, keeping the guard of the
 * merge order: a row is replaced only by a greater (HLC, rank, value hash). Returns the buckets of
 * the rows it changed. Not sent: the caller sends or awaits it (in its transaction).
 */
export function upsertEntries(
  sql: postgres.TransactionSql | postgres.ReservedSql,
  contextId: Buffer,
  rows: readonly EntryRowUpsert[],
) {
  const col = <T>(pick: (r: EntryRowUpsert) => T, oid: number) => sql.array(rows.map(pick) as never[], oid);
  return sql<{ bucket: string }[]>`
    insert into state_entries (context_id, key, key_hash, bucket, value, value_hash, op_hlc, op_rank, author, deleted_at_ms)
    select ${contextId}, k, kh, b, v, vh, h, r, a, dms
    from unnest(
      ${col((r) => r.key, BYTEA_ARRAY)}::bytea[],
      ${col((r) => r.keyHash, BYTEA_ARRAY)}::bytea[],
      ${col((r) => r.bucket, TEXT_ARRAY)}::text[],
      ${col((r) => r.value, BYTEA_ARRAY)}::bytea[],
      ${col((r) => r.valueHash, BYTEA_ARRAY)}::bytea[],
      ${col((r) => r.hlc, BYTEA_ARRAY)}::bytea[],
      ${col((r) => r.rank, INT2_ARRAY)}::int2[],
      ${col((r) => r.author, BYTEA_ARRAY)}::bytea[],
      ${col((r) => r.deletedAtMs, INT8_ARRAY)}::int8[]
    ) as t(k, kh, b, v, vh, h, r, a, dms)
    on conflict (context_id, key) do update set
      value = excluded.value, value_hash = excluded.value_hash, op_hlc = excluded.op_hlc,
      op_rank = excluded.op_rank, author = excluded.author, deleted_at_ms = excluded.deleted_at_ms
    where (excluded.op_hlc, excluded.op_rank, excluded.value_hash)
        > (state_entries.op_hlc, state_entries.op_rank, state_entries.value_hash)
    returning bucket`;
}

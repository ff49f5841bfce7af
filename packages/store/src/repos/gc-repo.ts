import type { Sql } from '../postgres.js';

/**
 * Ids of deltas known as applied without their rows (pruned by GC, or covered by a snapshot)
 * remembered per context: a child of one arriving later still applies. GC forgets the oldest beyond
 * it, and a snapshot sends no more than it.
 */
export const PRUNED_IDS_REMEMBERED = 100_000;

/** What a GC task did, as reported and stored in gc_runs. */
export interface GcCounts {
  contexts: number;
  scanned: number;
  deleted: number;
  failed: number;
}

export interface GcRunRecord extends GcCounts {
  id: number;
  task: string;
  trigger: string;
  replica: string;
  startedAt: Date;
  finishedAt: Date | null;
  outcome: string;
  error: string | null;
}

/** Reports kept per task; older ones are trimmed as new runs start. */
export const GC_RUNS_KEPT = 100;

interface GcRunRow {
  id: string;
  task: string;
  trigger: string;
  replica: string;
  started_at: Date;
  finished_at: Date | null;
  outcome: string;
  contexts: number;
  scanned: string;
  deleted: string;
  failed: string;
  error: string | null;
}

const toRecord = (r: GcRunRow): GcRunRecord => ({
  id: Number(r.id),
  task: r.task,
  trigger: r.trigger,
  replica: r.replica,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  outcome: r.outcome,
  contexts: r.contexts,
  scanned: Number(r.scanned),
  deleted: Number(r.deleted),
  failed: Number(r.failed),
  error: r.error,
});

/**
 * The GC service's SQL. Every batch is one short transaction (a function of
 * migration 0010) that locks the rows it picks, skipping rows a writer holds (`for update skip
 * locked`), and deletes them by primary key with their condition re-checked, so a collection never
 * blocks live writes for long and never deletes what a write just revived. Tombstones are not in
 * the Merkle tree: deleting them never changes a root hash.
 */
export class GcRepo {
  constructor(private readonly sql: Sql) {}

  /** Contexts holding tombstones deleted before `cutoffMs` (HLC wall time). */
  async contextsWithTombstonesBefore(cutoffMs: number): Promise<Buffer[]> {
    const rows = await this.sql<{ id: Buffer }[]>`
      select c.id from contexts c where exists (
        select 1 from state_entries e
        where e.context_id = c.id and e.op_rank = 1 and e.deleted_at_ms < ${cutoffMs})
      order by c.id`;
    return rows.map((r) => r.id);
  }

  /**
   * Deletes up to `limit` tombstones of the context deleted strictly before `cutoffMs`, in one
   * statement: rows a writer holds are skipped (the next batch or run gets them), and each row is
   * re-checked as it is deleted (still a tombstone, still old enough).
   */
  async deleteTombstoneBatch(
    contextId: Buffer,
    cutoffMs: number,
    limit: number,
  ): Promise<{ scanned: number; deleted: number }> {
    const [r] = await this.sql<{ scanned: number; deleted: number }[]>`
      select scanned, deleted from gc_delete_tombstones(${contextId}, ${cutoffMs}, ${limit})`;
    return { scanned: r?.scanned ?? 0, deleted: r?.deleted ?? 0 };
  }

  /** One tombstone, re-checked: the per-item retry when a batch failed. */
  async deleteTombstone(contextId: Buffer, key: Buffer, cutoffMs: number): Promise<boolean> {
    const [r] = await this.sql<{ deleted: boolean }[]>`
      select gc_delete_tombstone(${contextId}, ${key}, ${cutoffMs}) as deleted`;
    return r?.deleted ?? false;
  }

  /** The keys of up to `limit` old tombstones (for per-item retries). */
  async tombstoneKeys(contextId: Buffer, cutoffMs: number, limit: number): Promise<Buffer[]> {
    const rows = await this.sql<{ key: Buffer }[]>`
      select key from state_entries
      where context_id = ${contextId} and op_rank = 1 and deleted_at_ms < ${cutoffMs}
      order by deleted_at_ms limit ${limit}`;
    return rows.map((r) => r.key);
  }

  async countTombstones(contextId: Buffer): Promise<number> {
    const [r] = await this.sql<{ n: number }[]>`
      select count(*)::int as n from state_entries where context_id = ${contextId} and op_rank = 1`;
    return r?.n ?? 0;
  }

  /** Pending deltas per context (for the "more than 100 pending" warning). */
  async pendingCounts(): Promise<{ contextId: Buffer; pending: number }[]> {
    const rows = await this.sql<{ context_id: Buffer; n: number }[]>`
      select context_id, count(*)::int as n from deltas where not applied group by context_id order by context_id`;
    return rows.map((r) => ({ contextId: r.context_id, pending: r.n }));
  }

  /**
   * Drops up to `limit` pending deltas (their parents never came) received before `nowMs − maxAgeMs`;
   * their waits go with them (cascade). Returns how many, per context.
   */
  async expirePendingBatch(nowMs: number, maxAgeMs: number, limit: number): Promise<Map<string, number>> {
    const rows = await this.sql<{ context_id: Buffer; expired: number }[]>`
      select context_id, expired from gc_expire_pending(to_timestamp(${(nowMs - maxAgeMs) / 1000}), ${limit})`;
    return new Map(rows.map((r) => [r.context_id.toString('hex'), r.expired]));
  }

  /** Contexts with at least `minDeltas` applied deltas: compaction candidates. */
  async contextsWithAppliedAtLeast(minDeltas: number): Promise<{ contextId: Buffer; applied: number }[]> {
    const rows = await this.sql<{ context_id: Buffer; n: number }[]>`
      select context_id, count(*)::int as n from deltas where applied
      group by context_id having count(*) >= ${minDeltas} order by context_id`;
    return rows.map((r) => ({ contextId: r.context_id, applied: r.n }));
  }

  /**
   * Prunes up to `limit` applied deltas of the context that are neither among the newest `retain`
   * (by HLC) nor a current head. In the same transaction their ids become pruned checkpoints, so a
   * child arriving later still finds its parent applied.
   */
  async pruneDeltaBatch(contextId: Buffer, retain: number, limit: number): Promise<number> {
    const [r] = await this.sql<{ n: number }[]>`select gc_prune_deltas(${contextId}, ${retain}, ${limit}) as n`;
    return r?.n ?? 0;
  }

  /** Forgets the oldest pruned checkpoints of the context beyond `rememberMax`; returns how many. */
  async forgetPrunedBeyond(contextId: Buffer, rememberMax: number): Promise<number> {
    const rows = await this.sql`
      delete from dag_checkpoints where context_id = ${contextId} and pruned and delta_id in (
        select delta_id from dag_checkpoints where context_id = ${contextId} and pruned
        order by created_at desc, delta_id offset ${rememberMax})
      returning 1`;
    return rows.length;
  }

  async prunedCount(contextId: Buffer): Promise<number> {
    const [r] = await this.sql<{ n: number }[]>`
      select count(*)::int as n from dag_checkpoints where context_id = ${contextId} and pruned`;
    return r?.n ?? 0;
  }

  // --- run reports --------------------------------------------------------------------------------

  async startRun(task: string, trigger: string, replica: string): Promise<number> {
    const [r] = await this.sql<{ id: string }[]>`
      insert into gc_runs (task, trigger, replica) values (${task}, ${trigger}, ${replica}) returning id`;
    await this.sql`
      delete from gc_runs where task = ${task} and id in (
        select id from gc_runs where task = ${task} order by id desc offset ${GC_RUNS_KEPT})`;
    return Number(r!.id);
  }

  async finishRun(id: number, outcome: string, counts: GcCounts, error?: string): Promise<void> {
    await this.sql`
      update gc_runs set finished_at = now(), outcome = ${outcome}, contexts = ${counts.contexts},
        scanned = ${counts.scanned}, deleted = ${counts.deleted}, failed = ${counts.failed}, error = ${error ?? null}
      where id = ${id}`;
  }

  /** The newest run reports, newest first (of one task, or of all). */
  async recentRuns(limit: number, task?: string): Promise<GcRunRecord[]> {
    const rows = task
      ? await this.sql<GcRunRow[]>`select * from gc_runs where task = ${task} order by id desc limit ${limit}`
      : await this.sql<GcRunRow[]>`select * from gc_runs order by id desc limit ${limit}`;
    return rows.map(toRecord);
  }
}

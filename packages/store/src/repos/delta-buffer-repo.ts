import { encodeHlc, type Hlc } from '@cnode/primitives';
import { BYTEA_ARRAY, type Sql } from '../postgres.js';

/** DEFAULT_BUFFER_CAPACITY upstream: deltas held per context while a snapshot sync runs. */
export const DELTA_BUFFER_CAPACITY = 10_000;

export enum BufferOutcome {
  Added = 'added',
  Duplicate = 'duplicate',
  /** Added, and the oldest buffered delta was evicted to make room (data-loss risk, counted). */
  AddedEvictingOldest = 'added_evicting_oldest',
  /** The context has state (a snapshot just committed): apply the delta instead. */
  ContextInitialized = 'context_initialized',
}

export interface BufferedDelta {
  deltaId: Buffer;
  sourcePeer: string | null;
  /** The encoded wire StateDelta, replayed through the normal receive path. */
  delta: Buffer;
}

/**
 * Deltas that arrive while a context is being snapshot-synced, kept durably (any state-delta replica
 * may receive them, the sync service ends the session) and replayed in (HLC, id) order afterwards.
 */
export class DeltaBufferRepo {
  constructor(
    private readonly sql: Sql,
    private readonly capacity = DELTA_BUFFER_CAPACITY,
  ) {}

  /**
   * Buffers a delta while the context has no state. The context row is read under a share lock, so a
   * push either lands before a snapshot commits (and that snapshot's replay sees it) or finds the
   * context initialized afterwards.
   */
  push(contextId: Buffer, item: BufferedDelta & { hlc: Hlc; parents: readonly Buffer[] }): Promise<BufferOutcome> {
    return this.sql.begin(async (tx) => {
      const [ctx] = await tx<{ initialized: boolean }[]>`
        select initialized from contexts where id = ${contextId} for share`;
      if (!ctx || ctx.initialized) return BufferOutcome.ContextInitialized;
      const added = await tx`
        insert into delta_buffers (context_id, delta_id, hlc, source_peer, delta, parent_ids)
        values (${contextId}, ${item.deltaId}, ${encodeHlc(item.hlc)}, ${item.sourcePeer}, ${item.delta},
          ${tx.array([...item.parents], BYTEA_ARRAY)}::bytea[])
        on conflict do nothing returning 1`;
      if (added.length === 0) return BufferOutcome.Duplicate;
      const evicted = await tx`
        delete from delta_buffers where context_id = ${contextId} and delta_id in (
          select delta_id from delta_buffers where context_id = ${contextId}
          order by buffered_at, delta_id
          limit greatest(0, (select count(*) from delta_buffers where context_id = ${contextId}) - ${this.capacity}))
        returning 1`;
      return evicted.length > 0 ? BufferOutcome.AddedEvictingOldest : BufferOutcome.Added;
    });
  }

  /** The oldest buffered deltas of the context in (HLC, delta id) order, at most `limit`. */
  async peek(contextId: Buffer, limit: number): Promise<BufferedDelta[]> {
    const rows = await this.sql<{ delta_id: Buffer; source_peer: string | null; delta: Buffer }[]>`
      select delta_id, source_peer, delta from delta_buffers where context_id = ${contextId}
      order by hlc, delta_id limit ${limit}`;
    return rows.map((r) => ({ deltaId: r.delta_id, sourcePeer: r.source_peer, delta: r.delta }));
  }

  /**
   * Drops the buffered deltas whose effects the context's state already holds: those the DAG has
   * applied or took as snapshot checkpoints (the boundary heads), and, transitively, their buffered
   * ancestors. Replaying them would only fetch history the snapshot made unnecessary. Returns how
   * many were dropped.
   */
  async discardCovered(contextId: Buffer): Promise<number> {
    const rows = await this.sql`
      with recursive covered (delta_id) as (
        select b.delta_id from delta_buffers b
        where b.context_id = ${contextId} and (
          exists (select 1 from dag_checkpoints c where c.context_id = b.context_id and c.delta_id = b.delta_id)
          or exists (select 1 from deltas d where d.context_id = b.context_id and d.delta_id = b.delta_id and d.applied))
        union
        select parent.delta_id from covered
        join delta_buffers child on child.context_id = ${contextId} and child.delta_id = covered.delta_id
        join delta_buffers parent on parent.context_id = ${contextId} and parent.delta_id = any (child.parent_ids)
      )
      delete from delta_buffers where context_id = ${contextId} and delta_id in (select delta_id from covered)
      returning 1`;
    return rows.length;
  }

  /** Forgets buffered deltas once they were replayed (only then: a crash mid-replay loses nothing). */
  async remove(contextId: Buffer, deltaIds: readonly Buffer[]): Promise<void> {
    if (deltaIds.length === 0) return;
    await this.sql`
      delete from delta_buffers where context_id = ${contextId}
        and delta_id = any (${this.sql.array([...deltaIds], BYTEA_ARRAY)}::bytea[])`;
  }

  /** Discards the buffer (a failed snapshot sync). */
  async cancel(contextId: Buffer): Promise<number> {
    return (await this.sql`delete from delta_buffers where context_id = ${contextId} returning 1`).length;
  }

  async count(contextId: Buffer): Promise<number> {
    const [r] = await this.sql<
      { n: string }[]
    >`select count(*) as n from delta_buffers where context_id = ${contextId}`;
    return Number(r?.n ?? 0);
  }
}

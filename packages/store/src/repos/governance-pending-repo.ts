import type { Sql } from '../postgres.js';

/** MAX_GOVERNANCE_PENDING_PER_CONTEXT upstream: parked deltas per context; the oldest are evicted. */
export const GOVERNANCE_PENDING_CAPACITY = 256;
/** MAX_GOVERNANCE_DRAIN_ATTEMPTS upstream: undecided drains of one delta before it is dropped. */
export const MAX_GOVERNANCE_DRAIN_ATTEMPTS = 16;

export enum ParkOutcome {
  Parked = 'parked',
  Duplicate = 'duplicate',
  /** Parked, and the oldest parked delta of the context was evicted to make room (counted). */
  ParkedEvictingOldest = 'parked_evicting_oldest',
}

export interface GovernancePendingDelta {
  contextId: Buffer;
  deltaId: Buffer;
  sourcePeer: string | null;
  /** The encoded wire StateDelta. */
  delta: Buffer;
  attempts: number;
}

/**
 * The governance-pending buffer: deltas whose cited governance cut is not known here yet, kept
 * durably (the gossip message that brought one is acked once it is parked) and FIFO-bounded per context.
 */
export class GovernancePendingRepo {
  constructor(
    private readonly sql: Sql,
    private readonly capacity = GOVERNANCE_PENDING_CAPACITY,
  ) {}

  park(item: Omit<GovernancePendingDelta, 'attempts'>): Promise<ParkOutcome> {
    return this.sql.begin(async (tx) => {
      const added = await tx`
        insert into governance_pending (context_id, delta_id, source_peer, delta)
        values (${item.contextId}, ${item.deltaId}, ${item.sourcePeer}, ${item.delta})
        on conflict do nothing returning 1`;
      if (added.length === 0) return ParkOutcome.Duplicate;
      const evicted = await tx`
        delete from governance_pending where context_id = ${item.contextId} and delta_id in (
          select delta_id from governance_pending where context_id = ${item.contextId}
          order by seq
          limit greatest(0, (select count(*) from governance_pending where context_id = ${item.contextId}) - ${this.capacity}))
        returning 1`;
      return evicted.length > 0 ? ParkOutcome.ParkedEvictingOldest : ParkOutcome.Parked;
    });
  }

  /** The context's parked deltas, oldest first. */
  async list(contextId: Buffer): Promise<GovernancePendingDelta[]> {
    const rows = await this.sql<
      { delta_id: Buffer; source_peer: string | null; delta: Buffer; attempts: number }[]
    >`select delta_id, source_peer, delta, attempts from governance_pending where context_id = ${contextId} order by seq`;
    return rows.map((r) => ({
      contextId,
      deltaId: r.delta_id,
      sourcePeer: r.source_peer,
      delta: r.delta,
      attempts: r.attempts,
    }));
  }

  async count(contextId: Buffer): Promise<number> {
    const [r] = await this.sql<{ n: number }[]>`
      select count(*)::int as n from governance_pending where context_id = ${contextId}`;
    return r?.n ?? 0;
  }

  /** Contexts with parked deltas, optionally only those of one group. */
  async contexts(groupId?: Buffer): Promise<Buffer[]> {
    const rows = groupId
      ? await this.sql<{ id: Buffer }[]>`
          select distinct p.context_id as id from governance_pending p join contexts c on c.id = p.context_id
          where c.group_id = ${groupId}`
      : await this.sql<{ id: Buffer }[]>`select distinct context_id as id from governance_pending`;
    return rows.map((r) => r.id);
  }

  async remove(contextId: Buffer, deltaId: Buffer): Promise<void> {
    await this.sql`delete from governance_pending where context_id = ${contextId} and delta_id = ${deltaId}`;
  }

  /** One more undecided attempt; the delta keeps its place in the queue. */
  async bumpAttempts(contextId: Buffer, deltaId: Buffer): Promise<void> {
    await this.sql`
      update governance_pending set attempts = attempts + 1 where context_id = ${contextId} and delta_id = ${deltaId}`;
  }

  /** Parked deltas over all contexts (the queue-depth gauge). */
  async total(): Promise<number> {
    const [r] = await this.sql<{ n: number }[]>`select count(*)::int as n from governance_pending`;
    return r?.n ?? 0;
  }
}

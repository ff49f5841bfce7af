import type { Sql } from '../postgres.js';

/** One handler a received delta named, waiting to run here. */
export interface HandlerJob {
  /** The row's key, as text (a bigserial). */
  seq: string;
  contextId: Buffer;
  deltaId: Buffer;
  eventIndex: number;
  handler: string;
  /** The event's data: the handler's input. */
  data: Buffer;
  /** Claims so far, this one included. */
  attempts: number;
}

interface HandlerJobRow {
  seq: string;
  context_id: Buffer;
  delta_id: Buffer;
  event_index: number;
  handler: string;
  data: Buffer;
  attempts: number;
}

/**
 * The handlers received deltas named (`app_handler_jobs`). `StateStore.addDeltas` writes them with
 * the delta; a runner claims due ones for a lease (other runners skip them), and a job leaves the
 * table in the transaction that commits its handler's delta (`LocalWrite.handlerJob`) or by `remove`.
 */
export class HandlerJobRepo {
  constructor(private readonly sql: Sql) {}

  /** Claims up to `limit` due jobs, oldest first, for `leaseMs`; each claim counts an attempt. */
  async claim(limit: number, leaseMs: number): Promise<HandlerJob[]> {
    const rows = await this.sql<HandlerJobRow[]>`
      update app_handler_jobs j
      set claimed_until = now() + ${leaseMs} * interval '1 millisecond', attempts = j.attempts + 1
      where j.seq in (
        select seq from app_handler_jobs where claimed_until <= now() order by seq limit ${limit}
        for update skip locked)
      returning j.seq::text as seq, j.context_id, j.delta_id, j.event_index, j.handler, j.data, j.attempts`;
    return rows
      .map((r) => ({
        seq: r.seq,
        contextId: r.context_id,
        deltaId: r.delta_id,
        eventIndex: r.event_index,
        handler: r.handler,
        data: r.data,
        attempts: r.attempts,
      }))
      .sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
  }

  /** Gives a claimed job back to run again after `retryInMs`, noting why it failed. */
  async retryLater(seq: string, error: string, retryInMs: number): Promise<void> {
    await this.sql`
      update app_handler_jobs
      set claimed_until = now() + ${retryInMs} * interval '1 millisecond', last_error = ${error.slice(0, 1000)}
      where seq = ${seq}::bigint`;
  }

  /** Deletes a job (done without a delta, or given up on); false when it was gone already. */
  async remove(seq: string): Promise<boolean> {
    const rows = await this.sql`delete from app_handler_jobs where seq = ${seq}::bigint returning 1`;
    return rows.length > 0;
  }

  /** How many jobs wait (claimed or not). */
  async count(): Promise<number> {
    const [row] = await this.sql<{ n: string }[]>`select count(*)::text as n from app_handler_jobs`;
    return Number(row?.n ?? 0);
  }

  /** Deletes the oldest jobs beyond `max`; how many went. */
  async trim(max: number): Promise<number> {
    const rows = await this.sql`
      delete from app_handler_jobs where seq in (
        select seq from app_handler_jobs order by seq
        limit greatest(0, (select count(*) from app_handler_jobs) - ${max}))
      returning 1`;
    return rows.length;
  }
}

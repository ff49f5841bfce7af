import { publishToStream, type BusMetrics, type Catalog } from '@cnode/bus';
import type { JetStreamClient } from '@nats-io/jetstream';
import { toBase58 } from '@cnode/primitives';
import { Counter, errorMessage, type Logger, type Registry, type Startable } from '@cnode/runtime';
import { RedisLock, type CommittedEvents, type CommittedEventsSink, type Redis, type Sql } from '@cnode/store';

const BATCH = 256;
/** The drainer's lock lapses this long after its holder stops renewing it (renewed every batch). */
const LOCK_TTL_MS = 10_000;
/** A drain that found another process draining tries again this soon (its rows may be newer). */
const BUSY_RETRY_MS = 5;
/** Committed batches being published at once, at most; beyond it the drain publishes them. */
const MAX_DIRECT_IN_FLIGHT = 64;
/** Rows this process deletes between two VACUUMs of the outbox (see `vacuumAfterDeletes`). */
export const OUTBOX_VACUUM_AFTER_DELETES = 2_000;

export interface EventOutboxOptions {
  sql: () => Sql;
  js: () => JetStreamClient;
  redis: () => Redis;
  catalog: Catalog;
  busMetrics: BusMetrics;
  registry: Registry;
  logger: Logger;
  /** Leftovers (a crash between commit and publish, a NATS outage) are picked up this often. */
  intervalMs: number;
  /**
   * After this many deleted rows the process vacuums the outbox (default OUTBOX_VACUUM_AFTER_DELETES;
   * 0 never). Every event is a row inserted and deleted, and every commit with events asks whether
   * an earlier event of its context still waits: an index scan that steps over every dead entry of
   * the context (0.7 ms at 9 000, 2.1 ms at 39 000 here). Where autovacuum is off nothing reclaims
   * them (30 MB after a five-minute benchmark), and with it on they pile up for a minute between its
   * rounds. Vacuuming the small table this often keeps the check near 0.3 ms; SKIP_LOCKED, so it
   * never waits for another process's VACUUM.
   */
  vacuumAfterDeletes?: number;
}

/**
 * Publishes the node events that transactions wrote to `node_event_outbox` onto NODE_EVENTS, in
 * order, then deletes them. An event is published at least once (the outbox sequence is the
 * Nats-Msg-Id, so the broker drops repeats); a failed publish leaves it for the next round.
 *
 * Two ways out. Directly (`publishCommitted`): the process that committed events publishes them at
 * once when no earlier event of their context waited in the outbox, then deletes them — a context's
 * commits are ordered by its row lock, so its events stay in order, and a drain that publishes them
 * too is dropped as a repeat. The drain (`kick`, and a sweep every `intervalMs` for leftovers of a
 * crash or an outage) takes everything else: one process of the node drains at a time (a Redis lock,
 * so no Postgres connection is held while publishing), publishes a batch pipelined in sequence
 * order, then deletes it. Without Redis the drain goes on unlocked (the broker still drops repeats;
 * two drainers may then interleave their batches).
 */
export class NodeEventOutbox implements Startable, CommittedEventsSink {
  readonly name = 'node-event-outbox';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly published: Counter<'outcome' | 'via'>;
  /** Direct publishes under way (bounded by MAX_DIRECT_IN_FLIGHT). */
  private readonly direct = new Set<Promise<void>>();
  /** Per context (hex) with direct publishes under way: their outbox rows and the last one's outcome. */
  private readonly chains = new Map<string, { seqs: Set<string>; tail: Promise<boolean> }>();
  private readonly unlockedDrains: Counter;
  private readonly vacuums: Counter<'outcome'>;
  /** Rows deleted since the last VACUUM started. */
  private deletedSinceVacuum = 0;
  private vacuuming: Promise<void> | undefined;

  constructor(private readonly opts: EventOutboxOptions) {
    this.published = new Counter({
      name: 'node_events_outbox_total',
      help: 'Node events moved from the outbox to NODE_EVENTS, by outcome (published, failed) and way (direct after the commit, drain)',
      labelNames: ['outcome', 'via'],
      registers: [opts.registry],
    });
    this.unlockedDrains = new Counter({
      name: 'node_events_outbox_unlocked_drains_total',
      help: 'Outbox drains that ran without the Redis lock (Redis unavailable; the broker still drops repeated events)',
      registers: [opts.registry],
    });
    this.vacuums = new Counter({
      name: 'node_events_outbox_vacuums_total',
      help: 'VACUUMs of the node-event outbox this process ran after deleting many rows, by outcome (done, failed)',
      labelNames: ['outcome'],
      registers: [opts.registry],
    });
  }

  start(): Promise<void> {
    this.timer = setInterval(() => this.kick(), this.opts.intervalMs);
    this.kick();
    return Promise.resolve();
  }

  /** Drains soon; cheap to call after every commit. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((err: unknown) => {
        this.published.inc({ outcome: 'failed', via: 'drain' });
        this.opts.logger.warn({ err: errorMessage(err) }, 'Publishing node events failed; will retry');
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Events a transaction of this process just committed: published at once when they come first in
   * their context's order (else, or past the in-flight bound, by the drain). A context's direct
   * publishes follow each other: one waits for the previous one's acknowledgement, and after a
   * failure the ones behind it go to the drain too, so none overtakes another.
   */
  publishCommitted(committed: CommittedEvents): void {
    if (this.stopped || committed.events.length === 0) return;
    if (!committed.first || this.direct.size >= MAX_DIRECT_IN_FLIGHT) {
      this.kick();
      return;
    }
    const key = committed.contextId.toString('hex');
    const chain = this.chains.get(key) ?? { seqs: new Set<string>(), tail: Promise.resolve(true) };
    this.chains.set(key, chain);
    for (const e of committed.events) chain.seqs.add(e.seq);
    const published = chain.tail.then((ok) => ok && this.publishEvents(committed));
    chain.tail = published;
    const run = published
      .then((ok) => (ok ? this.deletePublished(committed) : this.kick()))
      .finally(() => {
        for (const e of committed.events) chain.seqs.delete(e.seq);
        if (chain.tail === published) this.chains.delete(key);
        this.direct.delete(run);
      });
    this.direct.add(run);
  }

  publishingFor(contextId: Buffer): readonly string[] {
    const chain = this.chains.get(contextId.toString('hex'));
    return chain ? [...chain.seqs] : [];
  }

  /** Publishes committed events (pipelined); false when that failed (their rows stay for the drain). */
  private async publishEvents({ contextId, events }: CommittedEvents): Promise<boolean> {
    try {
      await this.publishRows(events.map((e) => ({ ...e, contextId })));
      this.published.inc({ outcome: 'published', via: 'direct' }, events.length);
      return true;
    } catch (err) {
      this.published.inc({ outcome: 'failed', via: 'direct' });
      this.opts.logger.warn({ err: errorMessage(err) }, 'Publishing committed node events failed; the drain retries');
      return false;
    }
  }

  private async deletePublished({ events }: CommittedEvents): Promise<void> {
    try {
      await this.deleteRows(events.map((e) => e.seq));
    } catch (err) {
      // Published already: the drain publishes them again (the broker drops the repeats) and deletes them.
      this.opts.logger.warn({ err: errorMessage(err) }, 'Deleting published node events failed; the drain retries');
      this.kick();
    }
  }

  /** Publishes outbox rows, pipelined in their order; the sequence is the Nats-Msg-Id (repeats are dropped). */
  private async publishRows(rows: readonly { seq: string; contextId: Buffer; payload: Buffer }[]): Promise<void> {
    const deps = { js: this.opts.js(), metrics: this.opts.busMetrics };
    await Promise.all(
      rows.map((r) =>
        publishToStream(
          deps,
          this.opts.catalog.streams.nodeEvents,
          this.opts.catalog.subjects.nodeEventFor(toBase58(r.contextId)),
          r.payload,
          { msgId: `evt-${r.seq}` },
        ),
      ),
    );
  }

  /** Deletes outbox rows by their sequences, not by a range: a transaction that took a lower one may commit meanwhile. */
  private async deleteRows(seqs: readonly string[]): Promise<void> {
    const sql = this.opts.sql();
    await sql`delete from node_event_outbox where seq = any (${sql.array([...seqs])}::bigint[])`;
    this.deletedSinceVacuum += seqs.length;
    const every = this.opts.vacuumAfterDeletes ?? OUTBOX_VACUUM_AFTER_DELETES;
    if (every > 0 && this.deletedSinceVacuum >= every && !this.vacuuming && !this.stopped) {
      this.deletedSinceVacuum = 0;
      this.vacuuming = this.vacuum().finally(() => (this.vacuuming = undefined));
    }
  }

  /** Reclaims the outbox's dead rows; never waits for a VACUUM that another process runs. */
  private async vacuum(): Promise<void> {
    try {
      await this.opts.sql().unsafe('vacuum (skip_locked) node_event_outbox');
      this.vacuums.inc({ outcome: 'done' });
    } catch (err) {
      this.vacuums.inc({ outcome: 'failed' });
      this.opts.logger.warn(
        { err: errorMessage(err) },
        'Vacuuming the node-event outbox failed; retried after as many deletes',
      );
    }
  }

  private async drain(): Promise<void> {
    let lock: RedisLock | undefined;
    try {
      lock = await RedisLock.acquire(this.opts.redis(), this.opts.catalog.redis.eventOutboxLock, LOCK_TTL_MS);
      if (!lock) {
        // Another process drains; rows we just committed may be past its last read.
        this.retrySoon();
        return;
      }
    } catch (err) {
      this.unlockedDrains.inc();
      this.opts.logger.debug({ err: errorMessage(err) }, 'Outbox lock unavailable (Redis): draining unlocked');
    }
    try {
      for (;;) {
        const rows = await this.opts.sql()<{ seq: string; context_id: Buffer; payload: Buffer }[]>`
          select seq, context_id, payload from node_event_outbox order by seq limit ${BATCH}`;
        if (rows.length === 0) return;
        await this.publishRows(rows.map((r) => ({ seq: r.seq, contextId: r.context_id, payload: r.payload })));
        await this.deleteRows(rows.map((r) => r.seq));
        this.published.inc({ outcome: 'published', via: 'drain' }, rows.length);
        if (rows.length < BATCH) return;
        // A drainer that lost its lock (it stalled past the TTL) stops: another one drains now.
        if (lock && !(await lock.extend(LOCK_TTL_MS))) return;
      }
    } finally {
      await lock?.release().catch(() => false);
    }
  }

  private retrySoon(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, BUSY_RETRY_MS);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.all([this.running, ...this.direct]);
    await this.vacuuming;
  }
}

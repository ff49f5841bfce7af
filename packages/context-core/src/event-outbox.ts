import { publishToStream, type BusMetrics, type Catalog } from '@cnode/bus';
import type { JetStreamClient } from '@nats-io/jetstream';
import { toBase58 } from '@cnode/primitives';
import { Counter, errorMessage, type Logger, type Registry, type Startable } from '@cnode/runtime';
import type { Sql } from '@cnode/store';

const BATCH = 256;
/** One drainer at a time across every process of the node keeps events in commit order. */
const OUTBOX_LOCK_KEY = 'cnode:node-event-outbox';

export interface EventOutboxOptions {
  sql: () => Sql;
  js: () => JetStreamClient;
  catalog: Catalog;
  busMetrics: BusMetrics;
  registry: Registry;
  logger: Logger;
  /** Leftovers (a crash between commit and publish, a NATS outage) are picked up this often. */
  intervalMs: number;
}

/**
 * Publishes the node events that transactions wrote to `node_event_outbox` onto NODE_EVENTS, in
 * order, then deletes them. An event is published at least once (the outbox sequence is the
 * Nats-Msg-Id, so the broker drops repeats); a failed publish leaves it for the next round.
 */
export class NodeEventOutbox implements Startable {
  readonly name = 'node-event-outbox';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly published: Counter<'outcome'>;

  constructor(private readonly opts: EventOutboxOptions) {
    this.published = new Counter({
      name: 'node_events_outbox_total',
      help: 'Node events moved from the outbox to NODE_EVENTS, by outcome (published, failed)',
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
        this.published.inc({ outcome: 'failed' });
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

  private async drain(): Promise<void> {
    for (;;) {
      const moved = await this.opts.sql().begin(async (tx) => {
        const [lock] = await tx<{ ok: boolean }[]>`
          select pg_try_advisory_xact_lock(hashtextextended(${OUTBOX_LOCK_KEY} || current_schema(), 0)) as ok`;
        if (!lock?.ok) return 0;
        const rows = await tx<{ seq: string; context_id: Buffer; payload: Buffer }[]>`
          select seq, context_id, payload from node_event_outbox order by seq limit ${BATCH}`;
        for (const row of rows) {
          await publishToStream(
            { js: this.opts.js(), metrics: this.opts.busMetrics },
            this.opts.catalog.streams.nodeEvents,
            this.opts.catalog.subjects.nodeEventFor(toBase58(row.context_id)),
            row.payload,
            { msgId: `evt-${row.seq}` },
          );
        }
        if (rows.length > 0) {
          // By the rows read, not by a range: a transaction that took a lower seq may commit meanwhile.
          await tx`delete from node_event_outbox where seq = any (${tx.array(rows.map((r) => r.seq))}::bigint[])`;
          this.published.inc({ outcome: 'published' }, rows.length);
        }
        return rows.length;
      });
      if (moved < BATCH) return;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}

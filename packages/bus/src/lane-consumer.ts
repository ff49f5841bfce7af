import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import {
  Counter,
  Gauge,
  Histogram,
  Semaphore,
  errorMessage,
  type Logger,
  type Registry,
  type Startable,
} from '@cnode/runtime';
import type { ConsumerSpec } from './catalog.js';
import { MessageSettler, messageContext, type MessageContext } from './consumer.js';
import type { BusMetrics } from './metrics.js';

/** One decoded message of a lane batch. */
export interface LaneItem<T> {
  message: T;
  ctx: MessageContext;
}

/**
 * What became of each message of a batch, in batch order: `undefined` acks it (its effect is
 * committed); an error settles it as a failed handler would (ProcessingError decides retry / drop /
 * reject; anything else is retried with backoff).
 */
export type LaneOutcomes = (Error | undefined)[];

export interface LaneConsumerOptions<T> {
  spec: ConsumerSpec;
  /** Turns a payload into a message; throws when the payload is malformed (the message is poison). */
  decode(data: Uint8Array): T;
  /** The lane a message belongs to (e.g. its context): one lane's batches run one after another. */
  laneOf(message: T, subject: string): string;
  /**
   * Handles a batch of one lane, in arrival order. Resolves with an outcome per message; a throw
   * settles every message of the batch with that error. `more()` tells whether further messages may
   * follow for the lane (queued in it, or still undelivered on the server).
   */
  handleBatch(lane: string, items: LaneItem<T>[], more: () => boolean): Promise<LaneOutcomes>;
  /** Messages held at once, pulled and not yet settled (also the client-side pull window). */
  maxInFlight: number;
  /** Most messages of one lane handled in one batch. */
  maxBatch: number;
  /** Lanes handled at once; more lanes wait their turn, first come first served. */
  maxLanes: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  drainTimeoutMs?: number;
  js: () => JetStreamClient;
  metrics: BusMetrics;
  registry: Registry;
  logger: Logger;
}

interface Lane<T> {
  key: string;
  queue: { msg: JsMsg; item: LaneItem<T> }[];
  scheduled: boolean;
}

/** Lane metrics are registered once per registry (several lane consumers may share one). */
const laneMetricsByRegistry = new WeakMap<Registry, LaneMetrics>();

interface LaneMetrics {
  batchSize: Histogram<'consumer'>;
  lanesActive: Gauge<'consumer'>;
  lanesWaiting: Gauge<'consumer'>;
  batches: Counter<'consumer' | 'outcome'>;
}

function laneMetrics(registry: Registry): LaneMetrics {
  let m = laneMetricsByRegistry.get(registry);
  if (!m) {
    m = {
      batchSize: new Histogram({
        name: 'bus_lane_batch_size',
        help: 'Messages handled in one lane batch',
        labelNames: ['consumer'],
        buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
        registers: [registry],
      }),
      lanesActive: new Gauge({
        name: 'bus_lanes_active',
        help: 'Lanes handling a batch right now',
        labelNames: ['consumer'],
        registers: [registry],
      }),
      lanesWaiting: new Gauge({
        name: 'bus_lanes_waiting',
        help: 'Lanes with messages waiting for a free lane slot',
        labelNames: ['consumer'],
        registers: [registry],
      }),
      batches: new Counter({
        name: 'bus_lane_batches_total',
        help: 'Lane batches handled, by outcome (ok: the handler answered per message; failed: it threw)',
        labelNames: ['consumer', 'outcome'],
        registers: [registry],
      }),
    };
    laneMetricsByRegistry.set(registry, m);
  }
  return m;
}

/**
 * A durable pull consumer that handles messages in lanes: messages are grouped by `laneOf` (e.g.
 * their context), each lane handles whatever it has queued as one batch — up to `maxBatch`, no timer
 * waits for more — and one lane's batches never overlap, so a lane sees its messages in order.
 * Lanes run in parallel up to `maxLanes`; a lane that has more after a batch goes to the back of the
 * line when others wait. At most `maxInFlight` messages are held, pulled and unsettled; each is acked
 * only after its batch's effect is committed.
 */
export class LaneConsumer<T> implements Startable {
  readonly name: string;
  private readonly held: Semaphore;
  private readonly abort = new AbortController();
  private readonly lanes = new Map<string, Lane<T>>();
  private readonly ready: Lane<T>[] = [];
  private active = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private consuming = false;
  private readonly log: Logger;
  private readonly settler: MessageSettler;
  private readonly m: LaneMetrics;
  private readonly label: { consumer: string };
  /** Messages the server still held for this consumer when it delivered the last one. */
  private streamPending = 0;

  constructor(private readonly opts: LaneConsumerOptions<T>) {
    this.name = `lane-consumer:${opts.spec.durable}`;
    this.held = new Semaphore(opts.maxInFlight);
    this.log = opts.logger.child({ module: 'bus.lane-consumer', consumer: opts.spec.durable });
    this.settler = new MessageSettler({ ...opts, log: this.log });
    this.m = laneMetrics(opts.registry);
    this.label = { consumer: opts.spec.durable };
  }

  get isConsuming(): boolean {
    return this.consuming;
  }

  /** Messages queued in a lane, not yet in a batch. */
  queued(lane: string): number {
    return this.lanes.get(lane)?.queue.length ?? 0;
  }

  /** Whether more may be on the way for a lane: queued in it, or not yet delivered by the server. */
  private more(lane: string): boolean {
    return this.queued(lane) > 0 || this.streamPending > 0;
  }

  async start(): Promise<void> {
    const consumer = await this.opts.js().consumers.get(this.opts.spec.stream, this.opts.spec.durable);
    this.messages = await consumer.consume({ max_messages: this.opts.maxInFlight });
    this.consuming = true;
    this.loop = this.run(this.messages);
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const msg of messages) {
        if (this.abort.signal.aborted) {
          msg.nak();
          continue;
        }
        await this.held.acquire();
        this.streamPending = msg.info.pending;
        const decoded = this.settler.decode(msg, (data) => this.opts.decode(data));
        if (decoded === undefined) {
          this.held.release();
          continue;
        }
        this.enqueue(msg, decoded.value);
      }
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'Consumer loop failed');
    } finally {
      this.consuming = false;
      if (!this.abort.signal.aborted) this.log.error('Consumer stopped unexpectedly');
    }
  }

  private enqueue(msg: JsMsg, message: T): void {
    const key = this.opts.laneOf(message, msg.subject);
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { key, queue: [], scheduled: false };
      this.lanes.set(key, lane);
    }
    lane.queue.push({ msg, item: { message, ctx: messageContext(msg, this.abort.signal) } });
    this.schedule(lane);
  }

  private schedule(lane: Lane<T>): void {
    if (lane.scheduled) return;
    lane.scheduled = true;
    // After the I/O callbacks of this turn: messages that arrived together join the first batch.
    if (this.active < this.opts.maxLanes) {
      this.active++;
      setImmediate(() => void this.runLane(lane, true));
    } else {
      this.ready.push(lane);
      this.m.lanesWaiting.set(this.label, this.ready.length);
    }
  }

  /** Runs a lane's batches; `counted` when its slot was taken already. */
  private async runLane(lane: Lane<T>, counted = false): Promise<void> {
    if (!counted) this.active++;
    this.m.lanesActive.set(this.label, this.active);
    try {
      for (;;) {
        const batch = lane.queue.splice(0, this.opts.maxBatch);
        if (batch.length > 0) await this.handle(lane.key, batch);
        // Yield the slot to a waiting lane; come back behind it.
        if (lane.queue.length === 0 || this.ready.length > 0) break;
      }
    } finally {
      lane.scheduled = false;
      this.active--;
      // The longest-waiting lane gets the slot first; this one, if it has more, queues behind it.
      const next = this.ready.shift();
      if (next) void this.runLane(next);
      if (lane.queue.length > 0) this.schedule(lane);
      else this.lanes.delete(lane.key);
      this.m.lanesActive.set(this.label, this.active);
      this.m.lanesWaiting.set(this.label, this.ready.length);
      if (this.active === 0 && this.lanes.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async handle(key: string, batch: { msg: JsMsg; item: LaneItem<T> }[]): Promise<void> {
    const consumer = this.opts.spec.durable;
    this.opts.metrics.inFlight.inc({ consumer }, batch.length);
    this.m.batchSize.observe(this.label, batch.length);
    const endTimer = this.opts.metrics.handlerSeconds.startTimer({ consumer });
    // A long batch tells the server its messages are alive, so it does not redeliver them mid-flight.
    const keepAlive = setInterval(
      () => {
        for (const b of batch) b.msg.working();
      },
      Math.max(1000, this.opts.spec.ackWaitMs / 2),
    );
    try {
      let outcomes: LaneOutcomes;
      try {
        outcomes = await this.opts.handleBatch(
          key,
          batch.map((b) => b.item),
          () => this.more(key),
        );
        this.m.batches.inc({ ...this.label, outcome: 'ok' });
      } catch (err) {
        this.m.batches.inc({ ...this.label, outcome: 'failed' });
        outcomes = batch.map(() => (err instanceof Error ? err : new Error(String(err))));
      }
      batch.forEach((b, i) => {
        const outcome = outcomes[i];
        if (outcome === undefined) this.settler.ack(b.msg);
        else this.settler.fail(b.msg, outcome);
      });
    } finally {
      clearInterval(keepAlive);
      endTimer();
      this.opts.metrics.inFlight.dec({ consumer }, batch.length);
      for (let i = 0; i < batch.length; i++) this.held.release();
    }
  }

  /** Stops pulling, lets running and queued batches finish (up to the drain timeout), then returns. */
  async stop(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    await this.messages?.close();
    await this.loop;
    if (this.active === 0 && this.lanes.size === 0) return;
    const idle = await Promise.race([
      new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), this.opts.drainTimeoutMs ?? 10_000).unref()),
    ]);
    if (!idle) this.log.warn({ lanes: this.lanes.size }, 'Stopped with lane batches still running');
  }
}

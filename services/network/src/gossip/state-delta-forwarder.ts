import { isStreamFullError, publishToStream, type BusMetrics, type Catalog, type NatsComponent } from '@cnode/bus';
import { ID_BYTES, sha256, toBase58 } from '@cnode/primitives';
import { bus, wire } from '@cnode/proto';
import { BoundedQueue, DropPolicy, errorMessage, type Logger, type QueueMetrics, type Startable } from '@cnode/runtime';
import { STATE_DELTA_FORWARD_MAX, STATE_DELTA_PUBLISH_WINDOW } from '../constants.js';
import { StateDeltaForwardOutcome, type NetworkMetrics } from '../metrics.js';

interface Forward {
  subject: string;
  payload: Uint8Array;
  msgId: string;
}

/** Repeated publish failures are logged at most this often. */
const FAILURE_LOG_INTERVAL_MS = 5_000;

/**
 * Received state deltas go straight from gossip to the bounded STATE_DELTA mailbox, one subject per
 * context, without a relay through node-manager. `forward()` never blocks the libp2p loop: it
 * enqueues into a bounded queue, and one loop publishes what is queued with up to
 * STATE_DELTA_PUBLISH_WINDOW publishes in flight (sent in queue order on one connection, so a
 * context's deltas are stored in the order they arrived). The Nats-Msg-Id is a hash of the delta's
 * bytes: an exact repeat inside the window is stored once, and a forged copy (same id, other bytes)
 * never shadows the real one. What cannot be stored (queue full, mailbox full, NATS failing) is
 * dropped and counted; heartbeats and parent fetches repair the gap, as upstream does.
 */
export class StateDeltaForwarder implements Startable {
  readonly name = 'state-delta-forwarder';
  private readonly queue: BoundedQueue<Forward>;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private lastFailureLogMs = 0;

  constructor(
    private readonly deps: {
      catalog: Catalog;
      nats: NatsComponent;
      busMetrics: BusMetrics;
      queueMetrics: QueueMetrics;
      metrics: NetworkMetrics;
      logger: Logger;
    },
  ) {
    this.queue = new BoundedQueue<Forward>({
      name: 'state_delta_forward',
      maxLength: STATE_DELTA_FORWARD_MAX,
      dropPolicy: DropPolicy.DropNewest,
      metrics: deps.queueMetrics,
    });
  }

  /** Queues a gossiped delta for STATE_DELTA; one with malformed ids is counted and dropped here. */
  forward(delta: wire.StateDelta, sourcePeer: string, messageId: string): void {
    if (delta.contextId.length !== ID_BYTES || delta.deltaId.length !== ID_BYTES) {
      this.count(StateDeltaForwardOutcome.Malformed);
      return;
    }
    const encoded = wire.StateDelta.encode(delta).finish();
    const envelope: bus.StateDeltaReceived = { sourcePeer, messageId, delta, receivedAtMs: BigInt(Date.now()) };
    const dropped = this.queue.push({
      subject: this.deps.catalog.subjects.stateDeltaFor(toBase58(delta.contextId)),
      payload: bus.StateDeltaReceived.encode(envelope).finish(),
      msgId: sha256(encoded).toString('hex'),
    });
    if (dropped > 0) this.count(StateDeltaForwardOutcome.QueueFull);
  }

  async start(): Promise<void> {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    for (;;) {
      let item: Forward;
      try {
        item = await this.queue.take(this.abort.signal);
      } catch {
        break; // aborted or closed
      }
      const p = this.publish(item).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= STATE_DELTA_PUBLISH_WINDOW) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  }

  private async publish(item: Forward): Promise<void> {
    const { catalog, nats, busMetrics } = this.deps;
    try {
      await publishToStream(
        { js: nats.js, metrics: busMetrics },
        catalog.streams.stateDelta,
        item.subject,
        item.payload,
        {
          msgId: item.msgId,
        },
      );
      this.count(StateDeltaForwardOutcome.Published);
    } catch (err) {
      const full = isStreamFullError(err);
      this.count(full ? StateDeltaForwardOutcome.MailboxFull : StateDeltaForwardOutcome.PublishFailed);
      const now = Date.now();
      if (now - this.lastFailureLogMs >= FAILURE_LOG_INTERVAL_MS) {
        this.lastFailureLogMs = now;
        this.deps.logger.warn(
          { subject: item.subject, full, err: errorMessage(err) },
          full
            ? 'STATE_DELTA is full: dropped a delta (heartbeats and parent fetches will repair it)'
            : 'STATE_DELTA publish failed: dropped a delta',
        );
      }
    }
  }

  private count(outcome: StateDeltaForwardOutcome): void {
    this.deps.metrics.stateDeltasForwarded.inc({ outcome });
  }

  /** Publishes what is already queued (bounded by the queue size and 2 s), then stops. */
  async stop(): Promise<void> {
    const deadline = Date.now() + 2_000;
    while (this.queue.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.abort.abort();
    await this.loop;
    this.queue.close();
  }
}

import { isStreamFullError, publishToStream, type BusMetrics, type Catalog, type NatsComponent } from '@cnode/bus';
import { ID_BYTES, sha256, toBase58 } from '@cnode/primitives';
import { bus, wire } from '@cnode/proto';
import { BoundedQueue, DropPolicy, errorMessage, type Logger, type QueueMetrics, type Startable } from '@cnode/runtime';
import { BUS_ENVELOPE_MARGIN_BYTES, STATE_DELTA_FORWARD_MAX, STATE_DELTA_PUBLISH_WINDOW } from '../constants.js';
import { StateDeltaForwardOutcome, type NetworkMetrics } from '../metrics.js';

interface Forward {
  subject: string;
  payload: Uint8Array;
  msgId: string;
  /** Deltas the message holds (one, or a gossip batch's of one context). */
  deltas: number;
}

/** Repeated publish failures are logged at most this often. */
const FAILURE_LOG_INTERVAL_MS = 5_000;

/**
 * Received state deltas go straight from gossip to the bounded STATE_DELTA mailbox, one subject per
 * context, without a relay through node-manager. The deltas of one context that arrived in one
 * gossip batch travel as one mailbox message (one publish, one delivery, one ack for the batch; a
 * batch too large for the bus goes delta by delta). `forward()` never blocks the libp2p loop: it
 * enqueues into a bounded queue, and one loop publishes what is queued with up to
 * STATE_DELTA_PUBLISH_WINDOW publishes in flight (sent in queue order on one connection, so a
 * context's deltas are stored in the order they arrived). The Nats-Msg-Id is a hash of the deltas'
 * bytes: an exact repeat inside the window is stored once, and a forged copy (same id, other bytes)
 * never shadows the real one. What cannot be stored (queue full, mailbox full, NATS failing) is
 * dropped and counted per delta; heartbeats and parent fetches repair the gap, as upstream does.
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

  /**
   * Queues the deltas of one gossip message for STATE_DELTA: one mailbox message per context they
   * belong to (a batch names one, but nothing forces a peer to), in their order. Deltas with
   * malformed ids are counted and dropped here.
   */
  forward(deltas: readonly wire.StateDelta[], sourcePeer: string, messageId: string): void {
    const byContext = new Map<string, wire.StateDelta[]>();
    for (const delta of deltas) {
      if (delta.contextId.length !== ID_BYTES || delta.deltaId.length !== ID_BYTES) {
        this.count(StateDeltaForwardOutcome.Malformed);
        continue;
      }
      const context = toBase58(delta.contextId);
      const group = byContext.get(context);
      if (group) group.push(delta);
      else byContext.set(context, [delta]);
    }
    for (const [context, group] of byContext) {
      const subject = this.deps.catalog.subjects.stateDeltaFor(context);
      const message = group.length > 1 ? this.batchMessage(subject, group, sourcePeer, messageId) : undefined;
      for (const item of message
        ? [message]
        : group.map((d) => this.singleMessage(subject, d, sourcePeer, messageId))) {
        if (this.queue.push(item) > 0) this.count(StateDeltaForwardOutcome.QueueFull, item.deltas);
      }
    }
  }

  private singleMessage(subject: string, delta: wire.StateDelta, sourcePeer: string, messageId: string): Forward {
    const envelope: bus.StateDeltaReceived = {
      sourcePeer,
      messageId,
      delta,
      receivedAtMs: BigInt(Date.now()),
      batch: [],
    };
    return {
      subject,
      payload: bus.StateDeltaReceived.encode(envelope).finish(),
      msgId: sha256(wire.StateDelta.encode(delta).finish()).toString('hex'),
      deltas: 1,
    };
  }

  /** One message for a batch's deltas of one context; undefined when it would not fit the bus. */
  private batchMessage(
    subject: string,
    batch: wire.StateDelta[],
    sourcePeer: string,
    messageId: string,
  ): Forward | undefined {
    const envelope: bus.StateDeltaReceived = {
      sourcePeer,
      messageId,
      delta: undefined,
      receivedAtMs: BigInt(Date.now()),
      batch,
    };
    const payload = bus.StateDeltaReceived.encode(envelope).finish();
    if (payload.length > this.deps.nats.maxPayload - BUS_ENVELOPE_MARGIN_BYTES) return undefined;
    return {
      subject,
      payload,
      msgId: sha256(wire.StateDeltaBatch.encode({ deltas: batch }).finish()).toString('hex'),
      deltas: batch.length,
    };
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
      this.count(StateDeltaForwardOutcome.Published, item.deltas);
    } catch (err) {
      const full = isStreamFullError(err);
      this.count(full ? StateDeltaForwardOutcome.MailboxFull : StateDeltaForwardOutcome.PublishFailed, item.deltas);
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

  private count(outcome: StateDeltaForwardOutcome, deltas = 1): void {
    this.deps.metrics.stateDeltasForwarded.inc({ outcome }, deltas);
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

import { bus } from '@cnode/proto';
import {
  isStreamFullError,
  publishToStream,
  type Catalog,
  type NatsComponent,
  type BusMetrics,
  type NetEventKind,
} from '@cnode/bus';
import { BoundedQueue, DropPolicy, errorMessage, type Logger, type QueueMetrics, type Startable } from '@cnode/runtime';
import { NET_EVENTS_OUTBOX_MAX } from '../constants.js';
import { NetEventDropReason, type NetworkMetrics } from '../metrics.js';

interface OutboxItem {
  kind: NetEventKind;
  event: bus.NetworkEvent;
  msgId: string | undefined;
}

/** Repeated publish failures are logged at most this often. */
const FAILURE_LOG_INTERVAL_MS = 5_000;

/**
 * Carries network events from libp2p callbacks to NET_EVENTS. `emit()` never blocks: it enqueues
 * into a bounded outbox that one loop publishes from, in order. Whatever cannot be delivered (outbox
 * full, stream full, NATS failing) is dropped and counted by reason; heartbeats repair the gaps.
 */
export class NetEventPublisher implements Startable {
  readonly name = 'net-event-publisher';
  private readonly outbox: BoundedQueue<OutboxItem>;
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
    this.outbox = new BoundedQueue<OutboxItem>({
      name: 'net_events_outbox',
      maxLength: NET_EVENTS_OUTBOX_MAX,
      dropPolicy: DropPolicy.DropNewest,
      metrics: deps.queueMetrics,
    });
  }

  /** Queues an event for NET_EVENTS. `msgId` de-duplicates repeats inside the stream's window. */
  emit(kind: NetEventKind, event: Omit<bus.NetworkEvent, 'observedAtMs'>, msgId?: string): void {
    const dropped = this.outbox.push({ kind, event: { ...event, observedAtMs: BigInt(Date.now()) }, msgId });
    if (dropped > 0) this.deps.metrics.eventsDropped.inc({ kind, reason: NetEventDropReason.OutboxFull });
  }

  async start(): Promise<void> {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const { catalog, nats, busMetrics, metrics } = this.deps;
    for (;;) {
      let item: OutboxItem;
      try {
        item = await this.outbox.take(this.abort.signal);
      } catch {
        return; // aborted or closed
      }
      try {
        await publishToStream(
          { js: nats.js, metrics: busMetrics },
          catalog.streams.netEvents,
          catalog.subjects.netEvent(item.kind),
          bus.NetworkEvent.encode(item.event).finish(),
          item.msgId ? { msgId: item.msgId } : {},
        );
        metrics.eventsPublished.inc({ kind: item.kind });
      } catch (err) {
        const full = isStreamFullError(err);
        const reason = full ? NetEventDropReason.StreamFull : NetEventDropReason.PublishFailed;
        metrics.eventsDropped.inc({ kind: item.kind, reason });
        this.logFailure(reason, err);
      }
    }
  }

  private logFailure(reason: NetEventDropReason, err: unknown): void {
    const now = Date.now();
    if (now - this.lastFailureLogMs < FAILURE_LOG_INTERVAL_MS) return;
    this.lastFailureLogMs = now;
    this.deps.logger.warn({ reason, err: errorMessage(err) }, 'NET_EVENTS publish failed — dropping event');
  }

  /** Publishes what is already queued (bounded by the outbox size), then stops. */
  async stop(): Promise<void> {
    const deadline = Date.now() + 2_000;
    while (this.outbox.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.abort.abort();
    await this.loop;
    this.outbox.close();
  }
}

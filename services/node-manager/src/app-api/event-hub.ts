import { DeliverPolicy, type ConsumerMessages, type JetStreamClient } from '@nats-io/jetstream';
import type { Catalog } from '@cnode/bus';
import { admin } from '@cnode/proto';
import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import type { NodeManagerMetrics } from '../metrics.js';
import { appEventsOf, type AppNodeEvent } from './event-shapes.js';

/** One node event for frontends: its place in NODE_EVENTS and what clients see of it. */
export interface HubEvent {
  seq: number;
  contextId: string;
  events: AppNodeEvent[];
}

/** A connection that receives the events of the contexts it subscribes to. */
export interface EventSink {
  readonly contexts: ReadonlySet<string>;
  push(event: HubEvent): void;
}

/**
 * Reads NODE_EVENTS once for every event connection of this process (an ordered consumer from
 * the moment it starts) and hands each frontend event to the connections subscribed to its context.
 * The last `replayEvents` are kept so an SSE client that reconnects with Last-Event-ID misses none
 * of them.
 */
export class EventHub implements Startable {
  readonly name = 'app-api-events';
  private readonly sinks = new Set<EventSink>();
  /** The newest events with frontend events, a ring of `replayEvents` slots (`next` is the oldest when full). */
  private readonly recent: HubEvent[] = [];
  private next = 0;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  /** Every frontend event from this sequence on is in `recent` (undefined before the first read). */
  private coveredFrom: number | undefined;
  private lastSeq = 0;

  constructor(
    private readonly deps: {
      js: () => JetStreamClient;
      catalog: Catalog;
      replayEvents: number;
      metrics: NodeManagerMetrics;
      logger: Logger;
    },
  ) {}

  async start(): Promise<void> {
    const consumer = await this.deps.js().consumers.get(this.deps.catalog.streams.nodeEvents.name, {
      filter_subjects: this.deps.catalog.subjects.nodeEvents,
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume({ max_messages: 512 });
    this.messages = messages;
    this.loop = (async () => {
      for await (const msg of messages) {
        let event: admin.NodeEvent;
        try {
          event = admin.NodeEvent.decode(msg.data);
        } catch (err) {
          this.deps.metrics.appApi.eventsDropped.inc({ reason: 'undecodable' });
          this.deps.logger.warn({ seq: msg.seq, err: errorMessage(err) }, 'Skipping an undecodable node event');
          continue;
        }
        this.dispatch({ seq: msg.seq, contextId: event.contextId, events: appEventsOf(event) });
      }
    })().catch((err: unknown) => {
      this.deps.metrics.appApi.eventsDropped.inc({ reason: 'consumer_error' });
      this.deps.logger.error({ err: errorMessage(err) }, 'App API event reader stopped');
    });
  }

  async stop(): Promise<void> {
    await this.messages?.close();
    await this.loop;
  }

  add(sink: EventSink): void {
    this.sinks.add(sink);
  }

  remove(sink: EventSink): void {
    this.sinks.delete(sink);
  }

  /** The sequence of the newest event read (0 before the first). */
  get latest(): number {
    return this.lastSeq;
  }

  /**
   * The kept events after `afterSeq` of the given contexts, or undefined when some of those after
   * it are no longer kept (or were never read here).
   */
  since(afterSeq: number, contexts: ReadonlySet<string>): HubEvent[] | undefined {
    if (afterSeq >= this.lastSeq) return [];
    if (this.coveredFrom === undefined || this.coveredFrom > afterSeq + 1) return undefined;
    // Oldest first: the ring from `next` on, then from its start.
    const ordered = [...this.recent.slice(this.next), ...this.recent.slice(0, this.next)];
    return ordered.filter((e) => e.seq > afterSeq && contexts.has(e.contextId));
  }

  /** Hands one event to its subscribers (public for tests of the fan-out alone). */
  dispatch(event: HubEvent): void {
    this.coveredFrom ??= event.seq;
    this.lastSeq = event.seq;
    if (event.events.length === 0) return;
    if (this.deps.replayEvents === 0) {
      this.coveredFrom = event.seq + 1;
    } else if (this.recent.length < this.deps.replayEvents) {
      this.recent.push(event);
    } else {
      // Full: the oldest makes room, and replay no longer reaches it.
      this.coveredFrom = this.recent[this.next]!.seq + 1;
      this.recent[this.next] = event;
      this.next = (this.next + 1) % this.deps.replayEvents;
    }
    for (const sink of this.sinks) if (sink.contexts.has(event.contextId)) sink.push(event);
  }
}

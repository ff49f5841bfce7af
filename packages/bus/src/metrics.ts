import { Counter, Gauge, Histogram, type Registry } from '@cnode/runtime';

/** What a consumer did with one message. Metric label values. */
export enum ConsumeOutcome {
  /** Handler succeeded; acked. */
  Acked = 'acked',
  /** Handler asked for a retry (or failed unexpectedly); nak'd with a delay. */
  Retried = 'retried',
  /** Handler judged the message not worth processing; acked and counted. */
  Dropped = 'dropped',
  /** Handler judged the message bad; terminated, never redelivered. */
  Rejected = 'rejected',
  /** The payload did not decode; terminated. */
  Poison = 'poison',
  /** Retries ran out (max deliveries reached); terminated. */
  Exhausted = 'exhausted',
}

/** What happened to one publish onto a stream. */
export enum PublishOutcome {
  Stored = 'stored',
  /** The broker recognised the Nats-Msg-Id inside the duplicate window and kept the first. */
  Duplicate = 'duplicate',
  /** The stream hit its bound (discard new); the message was not stored. */
  Full = 'full',
  Failed = 'failed',
}

export interface BusMetrics {
  consumed: Counter<'consumer' | 'outcome' | 'code'>;
  handlerSeconds: Histogram<'consumer'>;
  inFlight: Gauge<'consumer'>;
  published: Counter<'stream' | 'outcome'>;
}

export function createBusMetrics(registry: Registry): BusMetrics {
  return {
    consumed: new Counter({
      name: 'bus_messages_consumed_total',
      help: 'Messages taken from a JetStream consumer, by outcome and error code',
      labelNames: ['consumer', 'outcome', 'code'],
      registers: [registry],
    }),
    handlerSeconds: new Histogram({
      name: 'bus_handler_duration_seconds',
      help: 'Time a message handler took',
      labelNames: ['consumer'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'bus_handler_in_flight',
      help: 'Messages being handled right now',
      labelNames: ['consumer'],
      registers: [registry],
    }),
    published: new Counter({
      name: 'bus_messages_published_total',
      help: 'Publishes onto a JetStream stream, by outcome',
      labelNames: ['stream', 'outcome'],
      registers: [registry],
    }),
  };
}

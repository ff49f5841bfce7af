import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import {
  LogThrottle,
  ProcessingAction,
  Semaphore,
  backoffMs,
  errorMessage,
  isProcessingError,
  type Logger,
  type Startable,
} from '@cnode/runtime';
import type { ConsumerSpec } from './catalog.js';
import { ConsumeOutcome, type BusMetrics } from './metrics.js';

/** Label used for failures that are not ProcessingErrors (bugs, infrastructure hiccups). */
export const UNEXPECTED_ERROR_CODE = 'UNEXPECTED';

export interface MessageContext {
  subject: string;
  /** 1 on first delivery. */
  deliveryCount: number;
  streamSequence: number;
  /** Aborts when the consumer stops; long handlers should give up promptly. */
  signal: AbortSignal;
}

export interface StreamConsumerOptions<T> {
  spec: ConsumerSpec;
  /** Turns a payload into a message; throws when the payload is malformed (the message is poison). */
  decode(data: Uint8Array): T;
  /**
   * Applies the message. Resolving means its effect is committed: only then is the message acked.
   * Throw ProcessingError to choose retry / drop / reject; anything else is retried with backoff.
   */
  handle(message: T, ctx: MessageContext): Promise<void>;
  /** Messages handled at once (also the client-side pull window). */
  concurrency: number;
  /** First redelivery delay for retries without an explicit delay; doubles per delivery. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How long stop() waits for in-flight handlers. */
  drainTimeoutMs?: number;
  js: () => JetStreamClient;
  metrics: BusMetrics;
  logger: Logger;
}

const DEFAULT_RETRY_BASE_MS = 250;
const DEFAULT_RETRY_MAX_MS = 30_000;
const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/**
 * A durable pull consumer with bounded concurrency that acks only after the handler's effect is
 * committed. One mapper turns every handler outcome into ack / nak(delay) / term and counts it.
 */
export class StreamConsumer<T> implements Startable {
  readonly name: string;
  private readonly semaphore: Semaphore;
  private readonly abort = new AbortController();
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private consuming = false;
  private readonly log: Logger;
  private readonly settler: MessageSettler;

  constructor(private readonly opts: StreamConsumerOptions<T>) {
    this.name = `consumer:${opts.spec.durable}`;
    this.semaphore = new Semaphore(opts.concurrency);
    this.log = opts.logger.child({ module: 'bus.consumer', consumer: opts.spec.durable });
    this.settler = new MessageSettler({ ...opts, log: this.log });
  }

  /** True while messages are being pulled. */
  get isConsuming(): boolean {
    return this.consuming;
  }

  async start(): Promise<void> {
    const consumer = await this.opts.js().consumers.get(this.opts.spec.stream, this.opts.spec.durable);
    this.messages = await consumer.consume({ max_messages: this.opts.concurrency });
    this.consuming = true;
    this.loop = this.run(this.messages);
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const msg of messages) {
        if (this.abort.signal.aborted) {
          // Pulled but not started: hand it back at once rather than after ack_wait.
          msg.nak();
          continue;
        }
        await this.semaphore.acquire();
        void this.process(msg).finally(() => this.semaphore.release());
      }
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'Consumer loop failed');
    } finally {
      this.consuming = false;
      if (!this.abort.signal.aborted) this.log.error('Consumer stopped unexpectedly');
    }
  }

  private async process(msg: JsMsg): Promise<void> {
    const consumer = this.opts.spec.durable;
    this.opts.metrics.inFlight.inc({ consumer });
    const endTimer = this.opts.metrics.handlerSeconds.startTimer({ consumer });
    // Long handlers tell the server they are alive, so it does not redeliver mid-flight.
    const keepAlive = setInterval(() => msg.working(), Math.max(1000, this.opts.spec.ackWaitMs / 2));
    try {
      const decoded = this.settler.decode(msg, (data) => this.opts.decode(data));
      if (decoded === undefined) return;
      try {
        await this.opts.handle(decoded.value, messageContext(msg, this.abort.signal));
        this.settler.ack(msg);
      } catch (err) {
        this.settler.fail(msg, err);
      }
    } finally {
      clearInterval(keepAlive);
      endTimer();
      this.opts.metrics.inFlight.dec({ consumer });
    }
  }

  /** Stops pulling, lets in-flight handlers finish (up to the drain timeout), then returns. */
  async stop(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    await this.messages?.close();
    await this.loop;
    const idle = await this.semaphore.idle(this.opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
    if (!idle) this.log.warn({ inFlight: this.semaphore.inUse }, 'Stopped with handlers still running');
  }
}

/** The JetStream facts of one delivered message a handler may use. */
export function messageContext(msg: JsMsg, signal: AbortSignal): MessageContext {
  return { subject: msg.subject, deliveryCount: msg.info.deliveryCount, streamSequence: msg.seq, signal };
}

/**
 * How every consumer settles a message: one mapper from a handler's outcome to ack / nak(delay) /
 * term, each counted by consumer, outcome and code.
 */
export class MessageSettler {
  private readonly rejectLog = new LogThrottle();

  constructor(
    private readonly opts: {
      spec: ConsumerSpec;
      retryBaseMs?: number;
      retryMaxMs?: number;
      metrics: BusMetrics;
      log: Logger;
    },
  ) {}

  /** The decoded payload, or undefined after terminating an undecodable (poison) message. */
  decode<T>(msg: JsMsg, decode: (data: Uint8Array) => T): { value: T } | undefined {
    try {
      return { value: decode(msg.data) };
    } catch (err) {
      msg.term();
      this.count(ConsumeOutcome.Poison, 'UNDECODABLE');
      this.opts.log.warn(
        { subject: msg.subject, seq: msg.seq, err: errorMessage(err) },
        'Terminated undecodable message',
      );
      return undefined;
    }
  }

  ack(msg: JsMsg): void {
    msg.ack();
    this.count(ConsumeOutcome.Acked, '');
  }

  // term() is always sent without a reason: servers before 2.10 ignore "+TERM <reason>" and leave the
  // message pending. The reason goes to the log and the metric instead.
  fail(msg: JsMsg, err: unknown): void {
    const fields = { subject: msg.subject, seq: msg.seq, delivery: msg.info.deliveryCount, err: errorMessage(err) };
    const known = isProcessingError(err);
    const code = known ? err.code : UNEXPECTED_ERROR_CODE;
    const action = known ? err.action : ProcessingAction.Retry;

    if (action === ProcessingAction.Drop) {
      msg.ack();
      this.count(ConsumeOutcome.Dropped, code);
      this.opts.log.debug({ ...fields, code }, 'Dropped message');
      return;
    }
    if (action === ProcessingAction.Reject) {
      msg.term();
      this.count(ConsumeOutcome.Rejected, code);
      // A peer can make us reject at will: one line per code per interval, each counted anyway.
      this.rejectLog.log(this.opts.log, 'warn', code, { ...fields, code }, 'Rejected message');
      return;
    }
    if (msg.info.deliveryCount >= this.opts.spec.maxDeliver) {
      msg.term();
      this.count(ConsumeOutcome.Exhausted, code);
      this.opts.log.error({ ...fields, code }, 'Gave up on message after max deliveries');
      return;
    }
    const delay =
      (known ? err.retryDelayMs : undefined) ??
      backoffMs(
        msg.info.deliveryCount - 1,
        this.opts.retryBaseMs ?? DEFAULT_RETRY_BASE_MS,
        this.opts.retryMaxMs ?? DEFAULT_RETRY_MAX_MS,
      );
    msg.nak(delay);
    this.count(ConsumeOutcome.Retried, code);
    if (known) this.opts.log.debug({ ...fields, code, delayMs: delay }, 'Retrying message');
    else this.opts.log.warn({ ...fields, code, delayMs: delay }, 'Handler failed unexpectedly, retrying message');
  }

  count(outcome: ConsumeOutcome, code: string): void {
    this.opts.metrics.consumed.inc({ consumer: this.opts.spec.durable, outcome, code });
  }
}

import type { JetStreamClient } from '@nats-io/jetstream';
import { BusError, BusErrorCode } from './errors.js';
import { PublishOutcome, type BusMetrics } from './metrics.js';
import type { StreamSpec } from './catalog.js';

/** JetStream's API error code for "maximum messages exceeded" (no named constant exists). */
const JS_ERR_MAX_MSGS_EXCEEDED = 10077;
/** "maximum bytes exceeded". */
const JS_ERR_MAX_BYTES_EXCEEDED = 10047;

function isStreamFull(err: unknown): boolean {
  const e = err as { code?: unknown; message?: string; apiError?: () => { err_code?: number } };
  const apiCode = typeof e.apiError === 'function' ? e.apiError().err_code : undefined;
  const code = typeof e.code === 'number' ? e.code : apiCode;
  return (
    code === JS_ERR_MAX_MSGS_EXCEEDED ||
    code === JS_ERR_MAX_BYTES_EXCEEDED ||
    /maximum (messages|bytes) exceeded/i.test(e.message ?? '')
  );
}

export interface PublishOptions {
  /** Nats-Msg-Id: a repeat inside the stream's duplicate window is stored once. */
  msgId?: string;
}

/**
 * Publishes onto a stream and waits for the broker's ack, so "resolved" means "stored". A full stream
 * throws BusError(BUS_STREAM_FULL); every outcome is counted by stream.
 */
export async function publishToStream(
  deps: { js: JetStreamClient; metrics: BusMetrics },
  stream: StreamSpec,
  subject: string,
  data: Uint8Array,
  opts: PublishOptions = {},
): Promise<PublishOutcome> {
  try {
    const ack = await deps.js.publish(subject, data, {
      expect: { streamName: stream.name },
      ...(opts.msgId ? { msgID: opts.msgId } : {}),
    });
    const outcome = ack.duplicate ? PublishOutcome.Duplicate : PublishOutcome.Stored;
    deps.metrics.published.inc({ stream: stream.label, outcome });
    return outcome;
  } catch (err) {
    if (isStreamFull(err)) {
      deps.metrics.published.inc({ stream: stream.label, outcome: PublishOutcome.Full });
      throw new BusError(
        BusErrorCode.StreamFull,
        `stream ${stream.name} is full`,
        { stream: stream.name },
        { cause: err },
      );
    }
    deps.metrics.published.inc({ stream: stream.label, outcome: PublishOutcome.Failed });
    throw new BusError(
      BusErrorCode.PublishFailed,
      `publish to ${stream.name} failed: ${(err as Error).message}`,
      {},
      {
        cause: err,
      },
    );
  }
}

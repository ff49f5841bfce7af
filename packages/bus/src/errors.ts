import { CodedError } from '@cnode/runtime';

export enum BusErrorCode {
  /** The stream is at its bound and refuses new messages. */
  StreamFull = 'BUS_STREAM_FULL',
  PublishFailed = 'BUS_PUBLISH_FAILED',
  /** A payload on the bus did not decode. */
  Undecodable = 'BUS_UNDECODABLE',
  /** A request/reply command got no answer in time, or nobody serves it. */
  CommandUnavailable = 'BUS_COMMAND_UNAVAILABLE',
  /** The responder answered with an error. */
  CommandFailed = 'BUS_COMMAND_FAILED',
  /** A relayed stream was reset (by either side, or by the relay itself); `meta.reason` says why. */
  StreamReset = 'BUS_STREAM_RESET',
  /** A write after the stream's writable end was closed. */
  StreamClosed = 'BUS_STREAM_CLOSED',
}

export class BusError extends CodedError<BusErrorCode> {
  constructor(code: BusErrorCode, message: string, meta: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(code, message, meta, options);
    this.name = 'BusError';
  }
}

/** True for the BusError a publish onto a full (discard-new) stream raises. */
export function isStreamFullError(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === BusErrorCode.StreamFull;
}

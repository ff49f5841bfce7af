/**
 * Coded errors: every error a service raises on purpose carries a stable `code` that logs and metric
 * labels use. Compare codes, not classes: `instanceof` breaks across package copies.
 */
export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  readonly meta: Readonly<Record<string, unknown>>;

  constructor(code: C, message?: string, meta: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message ?? code, options);
    this.name = 'CodedError';
    this.code = code;
    this.meta = meta;
  }

  toObject(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.meta };
  }
}

/** What a message consumer does with a message whose handler failed. */
export enum ProcessingAction {
  /** Transient failure: redeliver later (nak with a delay). */
  Retry = 'retry',
  /** The message is not worth processing (stale, duplicate, irrelevant): ack it and count the drop. */
  Drop = 'drop',
  /** The message is bad and never will be good: terminate it, never redeliver. */
  Reject = 'reject',
}

/** Thrown by message handlers to tell the consumer wrapper what to do with the message. */
export class ProcessingError<C extends string = string> extends CodedError<C> {
  readonly action: ProcessingAction;
  /** For Retry: how long to wait before redelivery; the consumer picks a backoff when absent. */
  readonly retryDelayMs: number | undefined;

  constructor(
    action: ProcessingAction,
    code: C,
    message?: string,
    opts: { retryDelayMs?: number; meta?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(code, message, opts.meta ?? {}, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ProcessingError';
    this.action = action;
    this.retryDelayMs = opts.retryDelayMs;
  }
}

export function isCodedError(err: unknown): err is CodedError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string';
}

export function isProcessingError(err: unknown): err is ProcessingError {
  const action = (err as { action?: unknown } | null)?.action;
  return isCodedError(err) && Object.values<unknown>(ProcessingAction).includes(action);
}

/** The message of any thrown value, for logs. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

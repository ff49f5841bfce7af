import { KV_APPLICATION_ID } from '@cnode/kv-app';
import { toBase58 } from '@cnode/primitives';
import { CodedError, backoffMs, errorMessage, type Logger, type Startable } from '@cnode/runtime';
import { StateErrorCode, type HandlerJob, type Sql } from '@cnode/store';
import { WasmErrorCode } from '@cnode/wasm-runtime';
import type { NodeManagerMetrics } from '../metrics.js';
import { actingMember, isReadOnlyRole } from './context-access.js';
import type { ContextDeps } from './context-deps.js';
import { callInstalled } from './call-runner.js';
import { applicationName, requireRecord } from './wasm-calls.js';

/** How the handler runner takes its work. */
export interface AppHandlerLimits {
  /** Jobs claimed per round. */
  batch: number;
  /** How long a claim keeps other runners off a job (longer than a call may wait and run). */
  leaseMs: number;
  /** Rounds without a notification (the backstop for a missed one, and for retries coming due). */
  pollMs: number;
  /** Claims of one job before it is given up on. */
  maxAttempts: number;
  /** Wait before a failed job runs again (doubling with each attempt). */
  retryMs: number;
  /** Jobs kept waiting at most on the node; beyond, the oldest are dropped (counted). */
  maxJobs: number;
}

export const APP_HANDLER_LIMITS: AppHandlerLimits = {
  batch: 32,
  leaseMs: 120_000,
  pollMs: 1_000,
  maxAttempts: 3,
  retryMs: 1_000,
  maxJobs: 100_000,
};

/** Failures that another attempt cannot fix: the method is not there, or the job cannot run here. */
const PERMANENT = new Set<string>([WasmErrorCode.MethodNotFound, WasmErrorCode.ModuleInvalid]);

/**
 * Runs the handlers that deltas received from peers name (`emit_with_handler`): the handler is the
 * application's method, called with the event's data by our identity in the context, like an
 * Execute — its writes are a delta of ours that replicates as any other. The delta's apply wrote
 * the job (so a handler is not lost), and the job leaves with the handler's delta (so its effect
 * lands once, whichever replica ran it and whatever crashed). Handlers run on receivers only, never
 * on the delta's author. Jobs of one context run in order; a failed one is retried with backoff,
 * then dropped; all failures are counted and logged.
 */
export class AppHandlerRunner implements Startable {
  readonly name = 'app-handlers';
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly deps: {
      contexts: () => ContextDeps;
      sql: () => Sql;
      /** The Postgres channel new jobs are told on (`<schema>.handlers`). */
      channel: string;
      metrics: NodeManagerMetrics;
      logger: Logger;
    },
    private readonly limits: AppHandlerLimits = APP_HANDLER_LIMITS,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    const listening = await this.deps.sql().listen(
      this.deps.channel,
      () => this.kick(),
      () => this.kick(),
    );
    this.unlisten = () => listening.unlisten();
    this.timer = setInterval(() => this.kick(), this.limits.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    await unlisten?.().catch(() => undefined);
    await this.running;
  }

  /** Runs what is due now (or once more after the round in progress). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.rounds().finally(() => (this.running = undefined));
  }

  private async rounds(): Promise<void> {
    do {
      this.again = false;
      try {
        if (await this.round()) this.again = true;
      } catch (err) {
        this.deps.logger.warn(
          { err: errorMessage(err) },
          'A round of application handlers failed; retrying at the next poll',
        );
      }
    } while (this.again && !this.stopped);
  }

  /** One claim and its jobs; true when it was full (more may be due). */
  private async round(): Promise<boolean> {
    const jobs = this.deps.contexts().handlerJobs;
    const dropped = await jobs.trim(this.limits.maxJobs);
    if (dropped > 0) {
      this.deps.metrics.appHandlers.inc({ outcome: 'dropped_backlog' }, dropped);
      this.deps.logger.warn({ dropped, max: this.limits.maxJobs }, 'Dropped the oldest handler jobs: too many waited');
    }
    const claimed = await jobs.claim(this.limits.batch, this.limits.leaseMs);
    this.deps.metrics.appHandlerJobs.set(claimed.length < this.limits.batch ? await jobs.count() : claimed.length);
    const perContext = new Map<string, HandlerJob[]>();
    for (const job of claimed) {
      const key = job.contextId.toString('hex');
      perContext.set(key, [...(perContext.get(key) ?? []), job]);
    }
    await Promise.all(
      [...perContext.values()].map(async (list) => {
        for (const job of list) await this.runOne(job);
      }),
    );
    return claimed.length === this.limits.batch;
  }

  private async runOne(job: HandlerJob): Promise<void> {
    const deps = this.deps.contexts();
    const fields = {
      context: toBase58(job.contextId),
      delta: toBase58(job.deltaId),
      event: job.eventIndex,
      handler: job.handler,
      attempt: job.attempts,
    };
    try {
      const ctx = await deps.hot.contextSettings(job.contextId);
      if (!ctx?.groupId || !ctx.applicationId || ctx.applicationId.equals(KV_APPLICATION_ID)) {
        await deps.handlerJobs.remove(job.seq);
        this.deps.metrics.appHandlers.inc({ outcome: 'context_gone' });
        return;
      }
      const hosted = { id: job.contextId, groupId: ctx.groupId };
      // A handler writes; a read-only node (or one whose identity here may only read) never does.
      const author = deps.nodeMode === 'read-only' ? undefined : await actingMember(deps, hosted, '');
      if (!author || isReadOnlyRole(await deps.hot.role(ctx.groupId, author.publicKey))) {
        await deps.handlerJobs.remove(job.seq);
        this.deps.metrics.appHandlers.inc({ outcome: 'skipped_read_only' });
        return;
      }
      const record = requireRecord(
        await deps.applications.version(ctx.applicationId, ctx.applicationVersion),
        applicationName(ctx.applicationId, ctx.applicationVersion),
      );
      const prepared = await deps.wasm.modules.of(record);
      const response = await callInstalled(deps, hosted, prepared, {
        method: job.handler,
        args: job.data,
        author,
        handlerJob: job.seq,
      });
      this.deps.metrics.appHandlers.inc({ outcome: 'ran' });
      this.deps.logger.debug({ ...fields, ownDelta: response.deltaId }, 'Ran an application handler');
    } catch (err) {
      await this.failed(job, err, fields).catch((again: unknown) =>
        this.deps.logger.warn(
          { ...fields, err: errorMessage(again) },
          'Could not record a failed handler; its lease will lapse',
        ),
      );
    }
  }

  private async failed(job: HandlerJob, err: unknown, fields: Record<string, unknown>): Promise<void> {
    const jobs = this.deps.contexts().handlerJobs;
    if (err instanceof CodedError && err.code === StateErrorCode.HandlerJobGone) {
      this.deps.metrics.appHandlers.inc({ outcome: 'run_elsewhere' });
      return;
    }
    const code = err instanceof CodedError ? String(err.code) : undefined;
    const permanent = code !== undefined && PERMANENT.has(code);
    if (permanent || job.attempts >= this.limits.maxAttempts) {
      await jobs.remove(job.seq);
      this.deps.metrics.appHandlers.inc({ outcome: 'failed' });
      this.deps.logger.warn({ ...fields, code, err: errorMessage(err) }, 'Gave up on an application handler');
      return;
    }
    const retryInMs = backoffMs(job.attempts - 1, this.limits.retryMs, this.limits.retryMs * 8);
    await jobs.retryLater(job.seq, errorMessage(err), retryInMs);
    this.deps.metrics.appHandlers.inc({ outcome: 'retried' });
    this.deps.logger.info(
      { ...fields, code, retryInMs, err: errorMessage(err) },
      'An application handler failed; retrying',
    );
  }
}

/** The Postgres channel on which new handler jobs of the node are told. */
export function handlerJobsChannel(schema: string): string {
  return `${schema}.handlers`;
}

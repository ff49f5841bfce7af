import { GC_TASKS, respondError, type Catalog, type GcTask } from '@cnode/bus';
import { bus } from '@cnode/proto';
import { CodedError, errorMessage, isCodedError, type Logger, type Startable } from '@cnode/runtime';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { GcTrigger, type GcRunner } from '../gc-runner.js';
import type { LeaderLease } from '../leader-lease.js';

export const GC_UNKNOWN_TASK = 'GC_UNKNOWN_TASK';

/**
 * Answers the admin's "run GC now" (core NATS request/reply on `gc.cmd.run`). Every replica
 * listens; only the leader answers, once the tasks ran (so a requester with no leader times out
 * and says so). Tasks run one after the other; one already running reports "skipped".
 */
export class RunCommandServer implements Startable {
  readonly name = 'gc-run-command';
  private subscription: Subscription | undefined;

  constructor(
    private readonly deps: {
      nc: () => NatsConnection;
      catalog: Catalog;
      runner: GcRunner;
      lease: () => LeaderLease;
      logger: Logger;
    },
  ) {}

  async start(): Promise<void> {
    this.subscription = this.deps.nc().subscribe(this.deps.catalog.subjects.gcRun, {
      callback: (err, msg) => {
        if (err || !this.deps.lease().isLeader) return;
        void this.answer(msg.data).then(
          (reply) => msg.respond(bus.GcRunReply.encode(reply).finish()),
          (error: unknown) =>
            respondError(msg, isCodedError(error) ? error.code : 'GC_RUN_FAILED', errorMessage(error)),
        );
      },
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.drain();
    this.subscription = undefined;
  }

  private async answer(data: Uint8Array): Promise<bus.GcRunReply> {
    const command = bus.GcRunCommand.decode(data);
    const unknown = command.tasks.filter((t) => !GC_TASKS.includes(t as GcTask));
    if (unknown.length > 0) {
      throw new CodedError(GC_UNKNOWN_TASK, `unknown GC task ${unknown.join(', ')} (tasks: ${GC_TASKS.join(', ')})`);
    }
    const tasks = command.tasks.length > 0 ? (command.tasks as GcTask[]) : GC_TASKS;
    const reports: bus.GcTaskReport[] = [];
    for (const task of tasks) reports.push(await this.deps.runner.run(task, GcTrigger.Admin));
    this.deps.logger.info({ tasks }, 'Ran GC on request');
    return { reports };
  }
}

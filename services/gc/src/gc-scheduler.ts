import { type Logger, type Startable } from '@cnode/runtime';
import type { NodeConfig } from '@cnode/config';
import type { LeaderLease } from './leader-lease.js';
import type { GcMetrics } from './metrics.js';
import { GcTrigger, type GcRunner } from './gc-runner.js';
import { GcTask } from '@cnode/bus';

/** How long a stopping replica lets a run in progress finish its current work. */
const STOP_GRACE_MS = 5_000;

/**
 * The maintenance timers, run by the leading replica only: tombstone GC every GC_INTERVAL and
 * once whenever this replica becomes the leader (at startup, or taking over from a replica that
 * died), pending-delta expiry every PENDING_DELTA_EXPIRY_INTERVAL, DAG compaction every
 * DAG_COMPACTION_CHECK_INTERVAL. A standby counts each tick it skips.
 */
export class GcScheduler implements Startable {
  readonly name = 'gc-scheduler';
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly deps: {
      runner: GcRunner;
      lease: () => LeaderLease;
      config: NodeConfig['gc'];
      metrics: GcMetrics;
      logger: Logger;
    },
  ) {}

  async start(): Promise<void> {
    const { config } = this.deps;
    this.every(config.intervalMs, GcTask.Tombstones);
    this.every(config.pendingDeltaExpiryIntervalMs, GcTask.Pending);
    if (config.dagCompaction.enabled) this.every(config.dagCompaction.checkIntervalMs, GcTask.Compaction);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS))),
    ]);
    clearTimeout(timer);
  }

  /** This replica just became the leader: the startup run of the tombstone GC. */
  onLead(): void {
    this.launch(GcTask.Tombstones, GcTrigger.Startup);
  }

  private every(ms: number, task: GcTask): void {
    this.timers.push(
      setInterval(() => {
        if (!this.deps.lease().isLeader) {
          this.deps.metrics.runsSkipped.inc({ task, reason: 'not_leader' });
          return;
        }
        this.launch(task, GcTrigger.Interval);
      }, ms),
    );
  }

  private launch(task: GcTask, trigger: GcTrigger): void {
    const run = this.deps.runner.run(task, trigger).finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }
}

import { GcTask } from '@cnode/bus';
import { errorMessage } from '@cnode/runtime';
import type { bus } from '@cnode/proto';
import type { GcCounts } from '@cnode/store';
import { compactDags } from './tasks/compact-dags.js';
import { collectTombstones } from './tasks/collect-tombstones.js';
import { expirePending } from './tasks/expire-pending.js';
import { emptyCounts, type TaskDeps } from './tasks/task.js';

/** What started a run; gc_runs.trigger values. */
export enum GcTrigger {
  /** This replica became the leader (at startup, or taking over from one that died). */
  Startup = 'startup',
  Interval = 'interval',
  Admin = 'admin',
}

const TASKS: Record<GcTask, (deps: TaskDeps) => Promise<GcCounts>> = {
  [GcTask.Tombstones]: collectTombstones,
  [GcTask.Pending]: expirePending,
  [GcTask.Compaction]: compactDags,
};

/**
 * Runs GC tasks one at a time per task (a run still going makes the next one skip), records each
 * in gc_runs (started, then finished with its counts and outcome), and counts it in the metrics.
 */
export class GcRunner {
  private readonly running = new Set<GcTask>();

  constructor(private readonly deps: TaskDeps & { replica: string }) {}

  async run(task: GcTask, trigger: GcTrigger): Promise<bus.GcTaskReport> {
    const { metrics, logger, gc, replica } = this.deps;
    const startedAtMs = Date.now();
    const report = (outcome: string, counts: GcCounts, error = ''): bus.GcTaskReport => ({
      task,
      trigger,
      replica,
      startedAtMs: BigInt(startedAtMs),
      finishedAtMs: BigInt(Date.now()),
      outcome,
      contexts: counts.contexts,
      scanned: BigInt(counts.scanned),
      deleted: BigInt(counts.deleted),
      failed: BigInt(counts.failed),
      error,
    });
    if (this.running.has(task)) {
      metrics.runsSkipped.inc({ task, reason: 'overlap' });
      return report('skipped', emptyCounts(), 'the previous run of the task is still running');
    }
    this.running.add(task);
    metrics.running.inc({ task });
    const endTimer = metrics.duration.startTimer({ task });
    let runId: number | undefined;
    try {
      runId = await gc.startRun(task, trigger, replica);
      const counts = await TASKS[task](this.deps);
      const outcome = counts.failed > 0 ? 'partial' : 'ok';
      await gc.finishRun(runId, outcome, counts);
      metrics.runs.inc({ task, outcome });
      if (outcome === 'ok') metrics.lastSuccess.set({ task }, Date.now() / 1000);
      logger.info({ task, trigger, ...counts, outcome }, 'GC run finished');
      return report(outcome, counts);
    } catch (err) {
      const message = errorMessage(err);
      metrics.runs.inc({ task, outcome: 'failed' });
      logger.error({ task, trigger, err: message }, 'GC run failed; retrying next period');
      if (runId !== undefined) await gc.finishRun(runId, 'failed', emptyCounts(), message).catch(() => undefined);
      return report('failed', emptyCounts(), message);
    } finally {
      endTimer();
      metrics.running.dec({ task });
      this.running.delete(task);
    }
  }
}
